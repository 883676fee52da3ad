"""Graph -> primitive ops: each primitive is something one PCU (plus a PMU) does per pass.

* ``gemm`` -> one ``gemm_chunk`` per K chunk of its :class:`~.layout.GemmPlan`, then
  ``add`` of the partials in chunk order. Its operands get buffers of their own:
  ``<a>.A`` in the A layout (bits 0-15) and ``<b>.B`` in the B layout (bits 16-31,
  see :mod:`.layout`), each made by the host from that one input alone, so a
  weight's ``.B`` buffer can stay in device memory across runs; GEMMs that share
  an operand share its buffer. An A operand made on the device (a ``to_bf16``
  result) gets its ``<a>.A`` buffer from an ``a_layout`` primitive instead: a PMU
  transposes its tiles into the A layout.
* ``row_max`` over more than ``lanes`` columns -> ``vec_max`` (the max of each
  vector, one per beat, rows padded to ``lanes**(levels-1)`` beats of ``-inf``),
  then ``gather_max`` levels (a PMU gathers lane 0 of ``lanes`` beats into one
  vector, the PCU's tree takes its max) until one value per row is left.
* ``row_add``/``row_sub``/``row_mul``: one SIMD stage ``op(PREV, SCALAR)`` of a PCU
  fed ``x`` on a vector flow and ``s`` on a scalar flow; ``scale``, ``add_const``,
  ``square``, ``from_bf16``: one SIMD stage each (``op(PREV, IMM)``, ``FMUL(PREV,
  PREV)``, ``ISHL(PREV, 16)``).
* ``col_add``/``col_mul`` of ``w [1, cols]`` -> ``broadcast`` (the AGCU re-reads ``w``
  once per row with a stride-0 level, a PASS PCU writes ``<w>.rows<R>``, ``[R, cols]``),
  then ``add`` / the ``mul`` pair op of ``x`` and that buffer.
* Everything else maps one to one.

Every tensor, the graph's and the temporaries, gets a :class:`TensorInfo`:
its logical shape, the rows its buffer holds, and what its padding words hold.

Padding (``cols % lanes != 0``): each buffer row ends in padding words, and a
reduction reads them, so they must not change its result. The compiler tracks every
tensor's padding value (:func:`_pad_after`: exact bit patterns computed with the golden
ops; None when it depends on the data) and accepts a reduction's input only when its
padding is provably neutral:

* ``row_max``: the padding is ``-inf``;
* ``row_sum``: the padding is ``-0.0``, or it is ``+0.0`` and every real value of the
  tensor is *sign-clear* (sign bit 0, or a NaN; ``TensorInfo.nonneg``: made by
  ``square``, ``exp``). Proof: in the lane accumulators and the tree, a partial sum
  over at least one real value is equal under both paddings and sign-clear (a sum of
  sign-clear values is sign-clear; NaN results are the canonical NaN), and
  ``v + (+0) = v + (-0) = v`` for every sign-clear non-NaN ``v``; a partial over
  padding only is ``-0`` or ``+0``, and ``±0 + ±0`` stays in that set; the root covers
  real column 0. (tests/test_compiler_norms.py checks the identities exhaustively over
  the special values.)

Rows holding a NaN (``TensorInfo.nan_rows``: "in a row whose real values include a
NaN, the padding words may differ from ``pad``"): every reduction propagates NaN
(the canonical NaN, whatever the other operands), so such a row's result does not
depend on its padding, and the padding only has to be right in NaN-free rows. The
flag passes through every elementwise op (each maps NaN to NaN, so a NaN-free
output row comes from NaN-free input rows, whose padding was exact). It makes
softmax's ``x - row_max(x)`` (``x`` padded with ``-inf``) padded with ``-inf``: in a
NaN-free row of the result, ``m = row_max(x)[r]`` is finite (``m = +inf`` needs a
real ``+inf``, and ``+inf - +inf`` is NaN; ``m = -inf`` makes every real value
``-inf - -inf``, NaN; ``m = NaN`` makes them all NaN), and ``-inf - m = -inf``. So
``exp`` of it is padded with ``+0`` (sign-clear values) and ``row_sum`` takes it as
it is; tests/test_compiler_norms.py checks this over rows of special values.

Graph inputs get the padding their reductions need from the host. An intermediate
whose padding is not provably neutral (it depends on the data, ``pad is None``: after
a row broadcast, a GEMM; or it is known and wrong: an elementwise op of a host
padding) is *repadded* before the reduction: a ``select`` pair op (``out = mask ? x :
pad``, the SEL stage, bit-exact for every value) against a host-written column mask
``<x>.mask`` (1 in real columns, 0 in the padding), giving ``<x>.pad<hex>`` whose
padding is exactly what the reduction needs. An input read by both ``row_sum`` and
``row_max`` gets the padding of the first; the other reads a repadded copy.
"""

from dataclasses import dataclass, field, replace

import numpy as np

from .errors import CompileError
from .golden import BINARY_GOLDEN, NEG_INF, NEG_ZERO, UNARY_GOLDEN
from .graph import BF16, COL_OPS, CONST_OPS, ROW_OPS, Graph
from .layout import GemmPlan, beats_per_row, max_levels, padded_cols

__all__ = ["PAIR_OPS", "STAGE_PRIMS", "Prim", "TensorInfo", "lower"]

PAIR_OPS = ("sub", "mul", "max", "min")
# Primitives that are one SIMD stage of a PCU (see placement.pcu_slots).
STAGE_PRIMS = (*ROW_OPS, "scale", "add_const", "square", "from_bf16")
# Primitives whose real values are all sign-clear (sign bit 0, or NaN), whatever the input.
NONNEG_PRIMS = ("square", "exp")
POS_ZERO = 0

REQUIRED_PAD = {"row_sum": NEG_ZERO, "row_max": NEG_INF, "vec_max": NEG_INF}


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
    # a column mask the host writes: 1 in the shape's columns, 0 in the padding, every row
    mask: bool = False
    # every real value is sign-clear: sign bit 0, or a NaN (see the module docstring)
    nonneg: bool = False
    # in rows whose real values include a NaN, padding words may differ from ``pad``
    nan_rows: bool = False
    # ("a" | "b", GemmPlan, input name): the host lays this buffer out from that input in
    # the GEMM's A or B layout
    operand: tuple | None = None

    def words(self, lanes: int) -> int:
        return self.rows_alloc * padded_cols(self.shape[1], lanes)


def lower(graph: Graph, lanes: int, pmu_depth: int, fused: bool = False):
    """Return (prims, infos) for ``graph``; CompileError on what v1 cannot map.

    ``fused``: a GEMM's K must fit the PMU (one chunk), since the fused and spatial
    modes keep the whole K accumulation in the systolic array instead of adding
    partials in memory."""
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
            _lower_pair_op(op.kind, op.inputs, op.output, t.shape, lanes, prims, infos)
            continue
        if op.kind in COL_OPS:
            _lower_col_op(op, t.shape, lanes, prims, infos)
            continue
        infos[op.output] = TensorInfo(t.shape, t.dtype, rows)
        if op.kind == "row_sub" and _is_row_max_of(graph, op.inputs[1], op.inputs[0]):
            prims.append(Prim(op.kind, op.inputs, op.output, {"minus_row_max": True}))
            continue
        if op.kind in CONST_OPS:
            prims.append(Prim(op.kind, op.inputs, op.output, {"imm": op.const}))
            continue
        x_cols = graph.tensors[op.inputs[0]].shape[1]
        if op.kind == "row_max" and x_cols > lanes:
            _lower_row_max(op, graph.tensors[op.inputs[0]].shape, lanes, prims, infos)
            continue
        prims.append(Prim(op.kind, op.inputs, op.output))
    prims = _assign_padding(graph, prims, infos, lanes)
    return prims, infos


def _is_row_max_of(graph: Graph, s: str, x: str) -> bool:
    producer = graph.producer(s)
    return producer is not None and producer.kind == "row_max" and producer.inputs == (x,)


def _lower_gemm(graph, op, lanes, pmu_depth, prims, infos, fused):
    a, b = (graph.tensors[name] for name in op.inputs)
    if op.inputs[1] not in graph.inputs:
        raise CompileError(f"gemm {', '.join(op.inputs)}: operand {op.inputs[1]} must be a "
                           f"graph input (the host lays B operands out; a B operand made "
                           f"on the device is not supported)")
    plan = GemmPlan(a.shape[0], a.shape[1], b.shape[1], lanes, pmu_depth)
    if fused and plan.chunks > 1:
        raise CompileError(f"gemm {', '.join(op.inputs)}: PMU overflow, K = {plan.k} needs "
                           f"{plan.k} PMU rows per output tile; the PMU holds {pmu_depth} "
                           f"(fused and spatial modes keep the K accumulation on chip; compile "
                           f"unfused to add K chunks through device memory)")
    a_name, b_name = op.inputs
    buffers = {}
    for side, source, vectors in (("a", a_name, plan.a_vectors), ("b", b_name, plan.b_vectors)):
        buffers[side] = f"{source}.{side.upper()}"
        if side == "a" and source not in graph.inputs:
            _lower_a_layout(source, buffers[side], plan, prims, infos)
            continue
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


def _lower_a_layout(source, buffer, plan, prims, infos):
    """A bf16 tensor made on the device, rearranged into the A layout by the device
    (``a_layout``: a PMU transposes ``lanes x lanes`` tiles of it). Its buffer holds
    whole tile rows, so it grows to ``tile_rows * lanes`` rows (the slack rows only
    reach the GEMM's slack output rows); K padding vectors are host-written zeros."""
    if buffer in infos:
        return  # another GEMM already made it
    lanes = plan.lanes
    infos[buffer] = TensorInfo((plan.a_vectors, lanes), "fp32", plan.a_vectors, pad=None,
                               fill=0 if plan.k_padded > plan.k else None)
    infos[source].rows_alloc = max(infos[source].rows_alloc, plan.tile_rows * lanes)
    prims.append(Prim("a_layout", (source,), buffer, {"plan": plan}))


def _lower_col_op(op, shape, lanes, prims, infos):
    """``x op w[1, cols]``: ``w`` broadcast to every row in device memory (one buffer per
    weight and row count, shared), then the elementwise ``add`` or ``mul``."""
    x, w = op.inputs
    rows = shape[0]
    rows_w = f"{w}.rows{rows}"
    if rows_w not in infos:
        infos[rows_w] = TensorInfo(shape, "fp32", rows)
        prims.append(Prim("broadcast", (w,), rows_w, {"rows": rows}))
    kind = op.kind[4:]
    if kind == "add":
        infos[op.output] = TensorInfo(shape, "fp32", rows)
        prims.append(Prim("add", (x, rows_w), op.output))
    else:
        _lower_pair_op(kind, (x, rows_w), op.output, shape, lanes, prims, infos)


def _lower_pair_op(kind, inputs, output, shape, lanes, prims, infos, attrs=None):
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
    for name in inputs:
        infos[name].rows_alloc = max(infos[name].rows_alloc, rows_alloc)
    pairs = f"{output}.pairs"
    infos[pairs] = TensorInfo((groups * lanes, lanes), "fp32", groups * lanes, pad=None)
    infos[output] = TensorInfo(shape, "fp32", rows_alloc)
    attrs = {"op": kind, "groups": groups, **(attrs or {})}
    prims.append(Prim("pair_op", inputs, pairs, attrs))
    prims.append(Prim("untranspose", (pairs,), output, {**attrs, "operands": inputs}))


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
    if prim.kind == "untranspose" and prim.attrs["op"] == "select":
        return prim.attrs["pad"]
    if prim.kind == "broadcast":
        return pads[0]
    if prim.kind == "untranspose" and None not in pads:
        args = [np.array([p], np.uint32) for p in pads]
        return int(np.asarray(BINARY_GOLDEN[prim.attrs["op"]](*args), np.uint32)[0])
    if prim.kind in ("row_sum", "row_max", "gather_max"):
        return 0  # [rows, 1]: the AGCU writes zeros in lanes 1..
    if prim.attrs.get("minus_row_max") and pads[0] == NEG_INF:
        return NEG_INF  # in NaN-free rows (the module docstring)
    if None in pads or prim.kind in ROW_OPS:
        return None  # a row op's padding is op(pad, s[r]): it depends on the row's scalar
    args = [np.array([p], np.uint32) for p in pads]
    if prim.kind in ("scale", "add_const"):
        fn = BINARY_GOLDEN["mul" if prim.kind == "scale" else "add"]
        return int(np.asarray(fn(args[0], np.uint32(prim.attrs["imm"])), np.uint32)[0])
    if prim.kind == "square":
        return int(np.asarray(BINARY_GOLDEN["mul"](args[0], args[0]), np.uint32)[0])
    if prim.kind == "from_bf16":
        return (pads[0] << 16) & 0xFFFFFFFF
    if prim.kind not in (*UNARY_GOLDEN, *BINARY_GOLDEN):
        return None
    fn = UNARY_GOLDEN.get(prim.kind) or BINARY_GOLDEN[prim.kind]
    return int(np.asarray(fn(*args), np.uint32)[0])


def _nonneg_after(prim: Prim, infos) -> bool:
    if prim.kind in NONNEG_PRIMS:
        return True
    if prim.kind == "untranspose" and prim.attrs["op"] == "select":
        return infos[prim.attrs["operands"][0]].nonneg  # the real values pass unchanged
    return False


def _nan_rows_after(prim: Prim, infos) -> bool:
    if prim.attrs.get("minus_row_max"):
        return True
    if prim.kind in ("row_sum", "row_max", "gather_max") or prim.attrs.get("op") == "select":
        return False  # exact: the AGCU's zeros / the select's padding
    return any(infos[name].nan_rows for name in prim.attrs.get("operands", prim.inputs))


def _neutral(info: TensorInfo, need: int) -> bool:
    """Padding ``info.pad`` leaves a reduction that needs ``need`` unchanged (docstring;
    ``info.nan_rows`` does not matter, every reduction propagates NaN)."""
    if info.pad == need:
        return True
    return need == NEG_ZERO and info.pad == POS_ZERO and info.nonneg


def _repad(name: str, need: int, infos, lanes: int, prims: list) -> str:
    """Append the prims that copy ``name`` with padding ``need``; return the copy's name."""
    out = f"{name}.pad{need:08x}"
    if out in infos:
        return out
    info = infos[name]
    mask = f"{name}.mask"
    if mask not in infos:
        infos[mask] = TensorInfo(info.shape, "fp32", info.shape[0], pad=0, mask=True)
    _lower_pair_op("select", (name, mask), out, info.shape, lanes, prims, infos, {"pad": need})
    for prim in prims[-2:]:
        if prim.kind == "untranspose":
            infos[out].pad = _pad_after(prim, infos)
            infos[out].nonneg = _nonneg_after(prim, infos)
            infos[out].nan_rows = _nan_rows_after(prim, infos)
    return out


def _assign_padding(graph, prims, infos, lanes) -> list:
    """Pad graph inputs with what their reductions need; check every reduction's input,
    repadding intermediates whose padding depends on the data. Returns the prims."""
    for name in graph.inputs:
        info = infos[name]
        if info.dtype == BF16 or info.shape[1] % lanes == 0:
            continue
        # the padding of the first reduction that reads it; another one that needs a
        # different padding (row_sum -0.0 and row_max -inf) reads a repadded copy
        wanted = [REQUIRED_PAD[p.kind] for p in prims
                  if name in p.inputs and p.kind in REQUIRED_PAD]
        info.pad = wanted[0] if wanted else 0
    result = []
    for prim in prims:
        if prim.kind in REQUIRED_PAD:
            name, need = prim.inputs[0], REQUIRED_PAD[prim.kind]
            x = infos[name]
            if x.shape[1] % lanes and not _neutral(x, need):
                prim = replace(prim, inputs=(_repad(name, need, infos, lanes, result),))
        result.append(prim)
        if prim.kind not in ("gemm_chunk", "vec_max", "pair_op"):
            infos[prim.output].pad = _pad_after(prim, infos)
            infos[prim.output].nonneg = _nonneg_after(prim, infos)
            infos[prim.output].nan_rows = _nan_rows_after(prim, infos)
    return result
