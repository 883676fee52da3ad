"""The dataflow-graph IR: named 2-D tensors (fp32 or bf16) and the ops that make them.

Every tensor is ``[rows, cols]``; ops read tensors by name and define one new
tensor. An input may be marked a weight (``input(..., weight=True)``): fixed
across runs, so the buffers made from it alone can stay in device memory.
Building a graph checks shapes and dtypes at once, so a bad graph fails with
:class:`CompileError` before anything is compiled or simulated. Every op has a
method of its own (``g.add(a, b)``, ``g.exp(x)``, ``g.row_sum(x)``, ...); ``binary``,
``unary``, ``reduce``, ``row_op`` and ``col_op`` take the kind as a string.

Ops (``Op.kind``):

* ``gemm``: bf16 ``[m, k]`` x bf16 ``[k, n]`` -> fp32 ``[m, n]``.
* ``add``, ``sub``, ``mul``, ``max``, ``min``: fp32 elementwise, equal shapes.
* ``exp``, ``reciprocal``, ``rsqrt``, ``silu``, ``gelu``: fp32 -> fp32;
  ``to_bf16``: fp32 -> bf16 (round to nearest even).
* ``row_sum``, ``row_max``: fp32 ``[rows, cols]`` -> fp32 ``[rows, 1]`` over the last axis.
* ``row_add``, ``row_sub``, ``row_mul``: fp32 ``x [rows, cols]`` op ``s [rows, 1]`` ->
  ``[rows, cols]``, ``out[r, j] = x[r, j] op s[r, 0]`` (per-row scalar broadcast).
* ``col_add``, ``col_mul``: fp32 ``x [rows, cols]`` op ``w [1, cols]`` -> ``[rows, cols]``,
  ``out[r, j] = x[r, j] op w[0, j]`` (a per-feature vector applied to every row).
* ``scale``, ``add_const``: fp32 ``x * c``, ``x + c`` with a constant ``c`` (a Python
  float rounded to binary32, round to nearest even; ``Op.const`` holds its bits).
* ``square``: fp32 ``x * x``.
* ``from_bf16``: bf16 -> fp32, exact (the bf16 bits become the high half).

Every op is one binary32 operation per element (the golden model is
:mod:`.golden`).
"""

from dataclasses import dataclass

import numpy as np

from .errors import CompileError

__all__ = ["FP32", "BF16", "Tensor", "Op", "Graph", "BINARY_OPS", "UNARY_OPS", "REDUCE_OPS",
           "ROW_OPS", "COL_OPS", "CONST_OPS", "f32_bits"]

FP32, BF16 = "fp32", "bf16"
BINARY_OPS = ("add", "sub", "mul", "max", "min")
UNARY_OPS = ("exp", "reciprocal", "rsqrt", "silu", "gelu", "to_bf16")
REDUCE_OPS = ("row_sum", "row_max")
ROW_OPS = ("row_add", "row_sub", "row_mul")
COL_OPS = ("col_add", "col_mul")
CONST_OPS = ("scale", "add_const")


def f32_bits(value: float) -> int:
    """The binary32 bits of ``value`` rounded to nearest even."""
    return int(np.float32(value).view(np.uint32))


@dataclass(frozen=True)
class Tensor:
    """A named tensor: shape ``(rows, cols)`` and element type (``fp32`` or ``bf16``)."""

    name: str
    shape: tuple
    dtype: str


@dataclass(frozen=True)
class Op:
    """One operation: ``kind`` applied to the ``inputs`` tensors, defining ``output``;
    ``const``: the binary32 bits of the constant of ``scale`` / ``add_const``."""

    kind: str
    inputs: tuple
    output: str
    const: int | None = None


class Graph:
    """A dataflow graph under construction: inputs, ops in definition order, outputs."""

    def __init__(self):
        self.tensors: dict[str, Tensor] = {}
        self.ops: list[Op] = []
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        #: inputs marked ``weight=True``: fixed across runs, so their buffers can stay
        #: resident in device memory (see ``CompiledGraph.weight_buffers``)
        self.weights: set[str] = set()

    # -- construction ---------------------------------------------------------------------
    def input(self, name: str, shape, dtype: str = FP32, weight: bool = False) -> str:
        """A graph input; ``weight``: its value is fixed across runs (a model weight)."""
        shape = tuple(int(s) for s in shape)
        if len(shape) != 2 or min(shape) < 1:
            raise CompileError(f"input {name}: shape {shape} is not [rows >= 1, cols >= 1]")
        if dtype not in (FP32, BF16):
            raise CompileError(f"input {name}: unsupported dtype {dtype!r} (fp32 or bf16)")
        self._define(Tensor(name, shape, dtype))
        self.inputs.append(name)
        if weight:
            self.weights.add(name)
        return name

    def output(self, *names: str) -> None:
        """Mark tensors as graph outputs (read back after a run), in order."""
        for name in names:
            self.tensor(name)
            self.outputs.append(name)

    def gemm(self, a: str, b: str, name: str | None = None) -> str:
        """bf16 ``a [m, k] @ b [k, n]`` -> fp32 ``[m, n]``."""
        ta, tb = self._operands("gemm", (a, b), (BF16, BF16))
        if ta.shape[1] != tb.shape[0]:
            raise CompileError(f"gemm {a} @ {b}: shape mismatch, {list(ta.shape)} x "
                               f"{list(tb.shape)} (inner dimensions differ)")
        return self._op("gemm", (a, b), (ta.shape[0], tb.shape[1]), FP32, name)

    def binary(self, kind: str, a: str, b: str, name: str | None = None) -> str:
        """fp32 ``a kind b`` elementwise, ``kind`` one of BINARY_OPS (``add`` and the
        other methods below are this with ``kind`` fixed)."""
        if kind not in BINARY_OPS:
            raise CompileError(f"unknown binary op {kind!r}; binary ops: {', '.join(BINARY_OPS)}")
        ta, tb = self._operands(kind, (a, b), (FP32, FP32))
        if ta.shape != tb.shape:
            raise CompileError(f"{kind} {a}, {b}: shape mismatch, {list(ta.shape)} and "
                               f"{list(tb.shape)}")
        return self._op(kind, (a, b), ta.shape, FP32, name)

    def unary(self, kind: str, x: str, name: str | None = None) -> str:
        """``kind(x)`` elementwise, ``kind`` one of UNARY_OPS."""
        if kind not in UNARY_OPS:
            raise CompileError(f"unknown unary op {kind!r}; unary ops: {', '.join(UNARY_OPS)}")
        (tx,) = self._operands(kind, (x,), (FP32,))
        return self._op(kind, (x,), tx.shape, BF16 if kind == "to_bf16" else FP32, name)

    def reduce(self, kind: str, x: str, name: str | None = None) -> str:
        """``kind`` over each row of ``x``, ``kind`` one of REDUCE_OPS."""
        if kind not in REDUCE_OPS:
            raise CompileError(f"unknown reduction {kind!r}; reductions: {', '.join(REDUCE_OPS)}")
        (tx,) = self._operands(kind, (x,), (FP32,))
        return self._op(kind, (x,), (tx.shape[0], 1), FP32, name)

    def row_op(self, kind: str, x: str, s: str, name: str | None = None) -> str:
        """``x [rows, cols]`` op ``s [rows, 1]``, ``s`` broadcast along each row."""
        if kind not in ROW_OPS:
            raise CompileError(f"unknown row op {kind!r}; row ops: {', '.join(ROW_OPS)}")
        tx, ts = self._operands(kind, (x, s), (FP32, FP32))
        if ts.shape != (tx.shape[0], 1):
            raise CompileError(f"{kind} {x}, {s}: shape mismatch, {s} is {list(ts.shape)}, "
                               f"not [{tx.shape[0]}, 1] (one scalar per row of {x})")
        return self._op(kind, (x, s), tx.shape, FP32, name)

    def col_op(self, kind: str, x: str, w: str, name: str | None = None) -> str:
        """``x [rows, cols]`` op ``w [1, cols]``, ``w`` applied to every row."""
        if kind not in COL_OPS:
            raise CompileError(f"unknown column op {kind!r}; column ops: {', '.join(COL_OPS)}")
        tx, tw = self._operands(kind, (x, w), (FP32, FP32))
        if tw.shape != (1, tx.shape[1]):
            raise CompileError(f"{kind} {x}, {w}: shape mismatch, {w} is {list(tw.shape)}, "
                               f"not [1, {tx.shape[1]}] (one value per column of {x})")
        return self._op(kind, (x, w), tx.shape, FP32, name)

    def scale(self, x: str, c: float, name: str | None = None) -> str:
        """``x * c``, ``c`` rounded to binary32."""
        return self._const_op("scale", x, c, name)

    def add_const(self, x: str, c: float, name: str | None = None) -> str:
        """``x + c``, ``c`` rounded to binary32."""
        return self._const_op("add_const", x, c, name)

    def square(self, x: str, name: str | None = None) -> str:
        """``x * x``."""
        (tx,) = self._operands("square", (x,), (FP32,))
        return self._op("square", (x,), tx.shape, FP32, name)

    def from_bf16(self, x: str, name: str | None = None) -> str:
        """bf16 ``x`` widened to fp32 (exact)."""
        (tx,) = self._operands("from_bf16", (x,), (BF16,))
        return self._op("from_bf16", (x,), tx.shape, FP32, name)

    # -- elementwise binary ops: fp32, equal shapes (``binary``) ----------------------------
    def add(self, a: str, b: str, name: str | None = None) -> str:
        """``a + b`` elementwise."""
        return self.binary("add", a, b, name)

    def sub(self, a: str, b: str, name: str | None = None) -> str:
        """``a - b`` elementwise."""
        return self.binary("sub", a, b, name)

    def mul(self, a: str, b: str, name: str | None = None) -> str:
        """``a * b`` elementwise."""
        return self.binary("mul", a, b, name)

    def max(self, a: str, b: str, name: str | None = None) -> str:
        """``max(a, b)`` elementwise (the binary32 max of :mod:`.golden`)."""
        return self.binary("max", a, b, name)

    def min(self, a: str, b: str, name: str | None = None) -> str:
        """``min(a, b)`` elementwise (the binary32 min of :mod:`.golden`)."""
        return self.binary("min", a, b, name)

    # -- unary ops: fp32 in, same shape out (``unary``) ------------------------------------
    def exp(self, x: str, name: str | None = None) -> str:
        """``e ** x`` elementwise."""
        return self.unary("exp", x, name)

    def reciprocal(self, x: str, name: str | None = None) -> str:
        """``1 / x`` elementwise."""
        return self.unary("reciprocal", x, name)

    def rsqrt(self, x: str, name: str | None = None) -> str:
        """``1 / sqrt(x)`` elementwise."""
        return self.unary("rsqrt", x, name)

    def silu(self, x: str, name: str | None = None) -> str:
        """``x * sigmoid(x)`` elementwise."""
        return self.unary("silu", x, name)

    def gelu(self, x: str, name: str | None = None) -> str:
        """GELU of ``x`` elementwise."""
        return self.unary("gelu", x, name)

    def to_bf16(self, x: str, name: str | None = None) -> str:
        """``x`` rounded to bf16 (nearest even); the result is a bf16 tensor."""
        return self.unary("to_bf16", x, name)

    # -- reductions over the last axis: fp32 [rows, cols] -> [rows, 1] (``reduce``) --------
    def row_sum(self, x: str, name: str | None = None) -> str:
        """The sum of each row of ``x`` (the lane-then-tree order of :mod:`.golden`)."""
        return self.reduce("row_sum", x, name)

    def row_max(self, x: str, name: str | None = None) -> str:
        """The max of each row of ``x`` (the tree order of :mod:`.golden`)."""
        return self.reduce("row_max", x, name)

    # -- per-row scalar broadcast: x [rows, cols] op s [rows, 1] (``row_op``) -------------
    def row_add(self, x: str, s: str, name: str | None = None) -> str:
        """``x[r, j] + s[r, 0]``."""
        return self.row_op("row_add", x, s, name)

    def row_sub(self, x: str, s: str, name: str | None = None) -> str:
        """``x[r, j] - s[r, 0]``."""
        return self.row_op("row_sub", x, s, name)

    def row_mul(self, x: str, s: str, name: str | None = None) -> str:
        """``x[r, j] * s[r, 0]``."""
        return self.row_op("row_mul", x, s, name)

    # -- per-column vector: x [rows, cols] op w [1, cols] (``col_op``) --------------------
    def col_add(self, x: str, w: str, name: str | None = None) -> str:
        """``x[r, j] + w[0, j]``."""
        return self.col_op("col_add", x, w, name)

    def col_mul(self, x: str, w: str, name: str | None = None) -> str:
        """``x[r, j] * w[0, j]``."""
        return self.col_op("col_mul", x, w, name)

    # -- queries --------------------------------------------------------------------------
    def tensor(self, name: str) -> Tensor:
        if name not in self.tensors:
            raise CompileError(f"no tensor {name!r} in the graph")
        return self.tensors[name]

    def producer(self, name: str) -> Op | None:
        return next((op for op in self.ops if op.output == name), None)

    def consumers(self, name: str) -> list[Op]:
        return [op for op in self.ops if name in op.inputs]

    # -- helpers --------------------------------------------------------------------------
    def _define(self, tensor: Tensor) -> None:
        if tensor.name in self.tensors:
            raise CompileError(f"tensor {tensor.name!r} is defined twice")
        self.tensors[tensor.name] = tensor

    def _operands(self, kind: str, names, dtypes) -> list[Tensor]:
        found = []
        for name, dtype in zip(names, dtypes, strict=True):
            tensor = self.tensor(name)
            if tensor.dtype != dtype:
                raise CompileError(f"{kind} {', '.join(names)}: unsupported dtype {tensor.dtype} "
                                   f"for operand {name} ({kind} takes {dtype})")
            found.append(tensor)
        return found

    def _const_op(self, kind, x, c, name) -> str:
        (tx,) = self._operands(kind, (x,), (FP32,))
        return self._op(kind, (x,), tx.shape, FP32, name, f32_bits(c))

    def _op(self, kind, inputs, shape, dtype, name, const=None) -> str:
        name = name or f"{kind}{len(self.ops)}"
        self._define(Tensor(name, tuple(shape), dtype))
        self.ops.append(Op(kind, tuple(inputs), name, const))
        return name
