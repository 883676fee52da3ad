"""NumPy golden model of a graph, op by op, in the exact orders the compiled kernels use.

Built only from :mod:`testbench.golden` functions. Values are bit patterns:
fp32 tensors uint32, bf16 tensors uint16. The orders (``lanes`` = L):

* binary ops: one binary32 operation per element (``add`` runs on the PCU as
  ``(-0 + a) + b``, which is ``a + b`` exactly since ``-0`` is the identity of
  the binary32 adder).
* ``row_sum``: each lane ``l`` accumulates ``acc = ((-0 + x[l]) + x[L + l]) + ...``
  over the row's vectors in order (the row padded with ``-0.0``), then the
  pairwise tree adds lanes ``(0, 1), (2, 3), ...`` level by level.
* ``row_max``: the row padded with ``-inf`` to ``L**levels`` values, then a
  pairwise max tree (per vector on the PCU's tree, then groups of L vector maxima
  gathered by a PMU and reduced by the tree again).
* ``row_add``/``row_sub``/``row_mul`` and ``col_add``/``col_mul``: the binary op of
  each element with its row's scalar / its column's weight (``col_add`` runs as
  ``(-0 + x) + w``, exactly ``x + w``); ``scale``, ``add_const``: ``x * c``,
  ``x + c``; ``square``: ``x * x``; ``from_bf16``: the bf16 bits shifted into the
  high half (exact).
* ``gemm``: per K chunk of :class:`~.layout.GemmPlan` the systolic order (from
  +0.0, products added for k in order), chunks combined ``((P0 + P1) + P2) ...``.
"""

import numpy as np

from testbench.golden import numerics as g
from testbench.golden import transcendentals as tr
from testbench.golden.systolic import systolic_tile

from .graph import BF16, COL_OPS, CONST_OPS, ROW_OPS, Graph
from .layout import GemmPlan, max_levels

__all__ = ["UNARY_GOLDEN", "BINARY_GOLDEN", "NEG_ZERO", "NEG_INF", "evaluate", "row_sum",
           "row_max", "gemm"]

NEG_ZERO, NEG_INF = 0x80000000, 0xFF800000

UNARY_GOLDEN = {
    "exp": tr.f32_exp, "reciprocal": tr.f32_recip, "rsqrt": tr.f32_rsqrt,
    "silu": tr.f32_silu, "gelu": tr.f32_gelu,
    "to_bf16": lambda x: g.f32_to_bf16(x).astype(np.uint32),
}
BINARY_GOLDEN = {"add": g.f32_add, "sub": g.f32_sub, "mul": g.f32_mul, "max": g.f32_max,
                 "min": g.f32_min}


def _tree(values: np.ndarray, fn) -> np.ndarray:
    v = np.asarray(values, np.uint32)
    while v.shape[-1] > 1:
        v = np.asarray(fn(v[..., 0::2], v[..., 1::2]), np.uint32)
    return v[..., 0]


def _pad_cols(x: np.ndarray, width: int, value: int) -> np.ndarray:
    out = np.full((x.shape[0], width), np.uint32(value), np.uint32)
    out[:, :x.shape[1]] = x
    return out


def row_sum(x: np.ndarray, lanes: int) -> np.ndarray:
    rows, cols = x.shape
    vectors = _pad_cols(x, -(-cols // lanes) * lanes, NEG_ZERO).reshape(rows, -1, lanes)
    acc = np.full((rows, lanes), np.uint32(NEG_ZERO))
    for j in range(vectors.shape[1]):
        acc = np.asarray(g.f32_add(acc, vectors[:, j]), np.uint32)
    return _tree(acc, g.f32_add)[:, None]


def row_max(x: np.ndarray, lanes: int) -> np.ndarray:
    width = lanes ** max_levels(x.shape[1], lanes)
    return _tree(_pad_cols(x, width, NEG_INF), g.f32_max)[:, None]


def gemm(a: np.ndarray, b: np.ndarray, lanes: int, pmu_depth: int) -> np.ndarray:
    plan = GemmPlan(a.shape[0], a.shape[1], b.shape[1], lanes, pmu_depth)
    ap, bp = plan.padded_operands(a, b)
    c = None
    for chunk in range(plan.chunks):
        ks = slice(chunk * plan.kc, (chunk + 1) * plan.kc)
        partial = systolic_tile(ap[:, ks], bp[ks, :])
        c = partial if c is None else np.asarray(g.f32_add(c, partial), np.uint32)
    return c[:plan.m, :plan.n]


def evaluate(graph: Graph, inputs: dict, lanes: int, pmu_depth: int) -> dict:
    """Every tensor of ``graph`` (uint32 fp32 bits / uint16 bf16 bits) from ``inputs``."""
    values = {}
    for name in graph.inputs:
        tensor = graph.tensors[name]
        dtype = np.uint16 if tensor.dtype == BF16 else np.uint32
        values[name] = np.asarray(inputs[name]).view(dtype).reshape(tensor.shape)
    for op in graph.ops:
        args = [values[name] for name in op.inputs]
        if op.kind == "gemm":
            out = gemm(*args, lanes, pmu_depth)
        elif op.kind in BINARY_GOLDEN:
            out = BINARY_GOLDEN[op.kind](*args)
        elif op.kind in (*ROW_OPS, *COL_OPS):
            # numpy broadcasts s [rows, 1] along rows and w [1, cols] over the rows
            out = BINARY_GOLDEN[op.kind[4:]](*args)
        elif op.kind in CONST_OPS:
            fn = g.f32_mul if op.kind == "scale" else g.f32_add
            out = fn(args[0], np.uint32(op.const))
        elif op.kind == "square":
            out = g.f32_mul(args[0], args[0])
        elif op.kind == "from_bf16":
            out = args[0].astype(np.uint32) << 16
        elif op.kind == "row_sum":
            out = row_sum(*args, lanes)
        elif op.kind == "row_max":
            out = row_max(*args, lanes)
        else:
            out = UNARY_GOLDEN[op.kind](*args)
        dtype = np.uint16 if graph.tensors[op.output].dtype == BF16 else np.uint32
        values[op.output] = np.asarray(out).astype(dtype)
    return values
