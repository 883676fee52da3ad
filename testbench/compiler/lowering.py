"""Graph -> primitive ops: each primitive is something one PCU (plus a PMU) does per pass.

* ``gemm`` -> one ``gemm_chunk`` per K chunk of its :class:`~.layout.GemmPlan`, then
  ``add`` of the partials in chunk order. Its operands get buffers of their own:
  ``<a>.A`` in the A layout (bits 0-15) and ``<b>.B`` in the B layout (bits 16-31,
  see :mod:`.layout`), each made by the host from that one input alone, so a
  weight's ``.B`` buffer can stay in device memory across runs; GEMMs that share
  an operand share its buffer.
* ``row_max`` over more than ``lanes`` columns -> ``vec_max`` (the max of each
  vector, one per beat, rows padded to ``lanes**(levels-1)`` beats of ``-inf``),
  then ``gather_max`` levels (a PMU gathers lane 0 of ``lanes`` beats into one
  vector, the PCU's tree takes its max) until one value per row is left.
* Everything else maps one to one.

Every tensor, the graph's and the temporaries, gets a :class:`TensorInfo`:
its logical shape, the rows its buffer holds, and what its padding words hold.
"""

from dataclasses import dataclass, field

import numpy as np

from .errors import CompileError
from .golden import BINARY_GOLDEN, NEG_INF, NEG_ZERO, UNARY_GOLDEN
from .graph import BF16, Graph
from .layout import GemmPlan, beats_per_row, max_levels, padded_cols

__all__ = ["PAIR_OPS", "Prim", "TensorInfo", "lower"]

PAIR_OPS = ("sub", "mul", "max", "min")

REQUIRED_PAD = {"row_sum": NEG_ZERO, "row_max": NEG_INF, "vec_max": NEG_INF}
PAD_NAMES = {NEG_ZERO: "-0.0", NEG_INF: "-inf"}


@dataclass(frozen=True)
class Prim:
    """A primitive op: ``kind`` on ``inputs`` defining ``output``, with kind-specific attrs."""

    kind: str
    inputs: tuple
    output: str
    attrs: dict = field(default_factory=dict, hash=False, compare=False)


@dataclass
class TensorInfo:
    """Where a tensor lives: logical shape, buffer rows, padding value (None: unknown)."""

    shape: tuple
    dtype: str
    rows_alloc: int
    pad: int | None = 0
    fill: int | None = None  # every word of the buffer starts as this value (host-written)
    # ("a" | "b", GemmPlan, input name): the host lays this buffer out from that input in
    # the GEMM's A or B layout
    operand: tuple | None = None

    def words(self, lanes: int) -> int:
        return self.rows_alloc * padded_cols(self.shape[1], lanes)


def lower(graph: Graph, lanes: int, pmu_depth: int, fused: bool = False):
    """Return (prims, infos) for ``graph``; CompileError on what v1 cannot map.

    ``fused``: a GEMM's K must fit the PMU (one chunk), since fused mode keeps the
    whole K accumulation in the systolic array instead of adding partials in memory."""
    prims, infos = [], {}
    for name in graph.inputs:
        t = graph.tensors[name]
        infos[name] = TensorInfo(t.shape, t.dtype, t.shape[0])
    for op in graph.ops:
        t = graph.tensors[op.output]
        rows, cols = t.shape
        if op.kind == "gemm":
            _lower_gemm(graph, op, lanes, pmu_depth, prims, infos, fused)
            continue
        if op.kind in PAIR_OPS:
            _lower_pair_op(op, t.shape, lanes, prims, infos)
            continue
        infos[op.output] = TensorInfo(t.shape, t.dtype, rows)
        x_cols = graph.tensors[op.inputs[0]].shape[1]
        if op.kind == "row_max" and x_cols > lanes:
            _lower_row_max(op, graph.tensors[op.inputs[0]].shape, lanes, prims, infos)
            continue
        prims.append(Prim(op.kind, op.inputs, op.output))
    _assign_padding(graph, prims, infos, lanes)
    return prims, infos


def _lower_gemm(graph, op, lanes, pmu_depth, prims, infos, fused):
    a, b = (graph.tensors[name] for name in op.inputs)
    for operand in op.inputs:
        if operand not in graph.inputs:
            raise CompileError(f"gemm {', '.join(op.inputs)}: operand {operand} must be a graph "
                               f"input (compiler v1 lays GEMM operands out on the host)")
    plan = GemmPlan(a.shape[0], a.shape[1], b.shape[1], lanes, pmu_depth)
    if fused and plan.chunks > 1:
        raise CompileError(f"gemm {', '.join(op.inputs)}: PMU overflow, K = {plan.k} needs "
                           f"{plan.k} PMU rows per output tile; the PMU holds {pmu_depth} "
                           f"(fused mode keeps the K accumulation on chip; compile unfused to "
                           f"add K chunks through device memory)")
    a_name, b_name = op.inputs
    buffers = {}
    for side, source, vectors in (("a", a_name, plan.a_vectors), ("b", b_name, plan.b_vectors)):
        buffers[side] = f"{source}.{side.upper()}"
        infos.setdefault(buffers[side], TensorInfo((vectors, lanes), "fp32", vectors, pad=None,
                                                   operand=(side, plan, source)))
    rows_alloc = plan.tile_rows * lanes
    shape = (plan.m, plan.n)
    partials = []
    for chunk in range(plan.chunks):
        name = op.output if plan.chunks == 1 else f"{op.output}.p{chunk}"
        infos[name] = TensorInfo(shape, "fp32", rows_alloc, pad=None)
        prims.append(Prim("gemm_chunk", op.inputs, name, {
            "plan": plan, "chunk": chunk, "a_buffer": buffers["a"], "b_buffer": buffers["b"]}))
        partials.append(name)
    acc = partials[0]
    for chunk in range(1, plan.chunks):
        name = op.output if chunk == plan.chunks - 1 else f"{op.output}.s{chunk}"
        infos[name] = TensorInfo(shape, "fp32", rows_alloc, pad=None)
        prims.append(Prim("add", (acc, partials[chunk]), name))
        acc = name


def _lower_pair_op(op, shape, lanes, prims, infos):
    """``sub``/``mul``/``max``/``min``: a stage needs both operands in one vector. The AGCU
    interleaves ``lanes/2`` vector pairs (a_j, b_j) into each ``lanes x lanes`` tile; a PMU
    transposes the tile, so lane 2i and 2i+1 of column c hold a_j[c] and b_j[c], and stage
    0 applies the op to the PAIR_LO/PAIR_HI operands (``pair_op``). A second kernel's PMU
    transposes the half-filled result tiles back (``untranspose``). The operand and result
    buffers get slack rows up to whole tiles."""
    rows, cols = shape
    row_beats = beats_per_row(cols, lanes)
    half = lanes // 2
    groups = -(-rows * row_beats // half)
    rows_alloc = -(-groups * half // row_beats)
    for name in op.inputs:
        infos[name].rows_alloc = max(infos[name].rows_alloc, rows_alloc)
    pairs = f"{op.output}.pairs"
    infos[pairs] = TensorInfo((groups * lanes, lanes), "fp32", groups * lanes, pad=None)
    infos[op.output] = TensorInfo(shape, "fp32", rows_alloc)
    prims.append(Prim("pair_op", op.inputs, pairs, {"op": op.kind, "groups": groups}))
    prims.append(Prim("untranspose", (pairs,), op.output, {"groups": groups, "op": op.kind,
                                                          "operands": op.inputs}))


def _lower_row_max(op, shape, lanes, prims, infos):
    rows, cols = shape
    levels = max_levels(cols, lanes)
    per_row = lanes ** (levels - 1)  # vector maxima per row, -inf padded
    name = f"{op.output}.l0"
    infos[name] = TensorInfo((rows * per_row, 1), "fp32", rows * per_row, pad=None, fill=NEG_INF)
    prims.append(Prim("vec_max", op.inputs, name, {"per_row": per_row,
                                                    "vectors": beats_per_row(cols, lanes)}))
    for level in range(1, levels):
        count = rows * lanes ** (levels - 1 - level)
        out = op.output if level == levels - 1 else f"{op.output}.l{level}"
        infos[out] = TensorInfo((count, 1), "fp32", count)
        prims.append(Prim("gather_max", (name,), out))
        name = out


def _pad_after(prim: Prim, infos) -> int | None:
    pads = [infos[name].pad for name in prim.attrs.get("operands", prim.inputs)]
    if prim.kind == "untranspose" and None not in pads:
        args = [np.array([p], np.uint32) for p in pads]
        return int(np.asarray(BINARY_GOLDEN[prim.attrs["op"]](*args), np.uint32)[0])
    if prim.kind in ("row_sum", "row_max", "gather_max"):
        return 0  # [rows, 1]: the AGCU writes zeros in lanes 1..
    if None in pads or prim.kind not in (*UNARY_GOLDEN, *BINARY_GOLDEN):
        return None
    args = [np.array([p], np.uint32) for p in pads]
    fn = UNARY_GOLDEN.get(prim.kind) or BINARY_GOLDEN[prim.kind]
    return int(np.asarray(fn(*args), np.uint32)[0])


def _assign_padding(graph, prims, infos, lanes):
    """Pad graph inputs with what their reductions need; check every reduction's input."""
    for name in graph.inputs:
        info = infos[name]
        if info.dtype == BF16 or info.shape[1] % lanes == 0:
            continue
        wanted = {REQUIRED_PAD[p.kind] for p in prims
                  if name in p.inputs and p.kind in REQUIRED_PAD}
        if len(wanted) > 1:
            raise CompileError(f"input {name}: row_sum and row_max both read it but need "
                               f"different padding (-0.0 and -inf) of its {info.shape[1]} "
                               f"columns; pad it to a multiple of {lanes} columns")
        info.pad = wanted.pop() if wanted else 0
    for prim in prims:
        if prim.kind in REQUIRED_PAD:
            x = infos[prim.inputs[0]]
            if x.shape[1] % lanes and x.pad != REQUIRED_PAD[prim.kind]:
                have = "unknown" if x.pad is None else f"{x.pad:#010x}"
                raise CompileError(
                    f"{'row_max' if prim.kind == 'vec_max' else prim.kind} {prim.inputs[0]}: "
                    f"its {x.shape[1]} columns are padded to {padded_cols(x.shape[1], lanes)} "
                    f"with {have}, not {PAD_NAMES[REQUIRED_PAD[prim.kind]]}; padding would "
                    f"change the result")
        if prim.kind not in ("gemm_chunk", "vec_max", "pair_op"):
            infos[prim.output].pad = _pad_after(prim, infos)
