"""Named single-kernel graphs (what ``rdu kernel NAME`` runs) and their random inputs.

Input array names: ``a``, ``b`` for gemm (bf16 ``[m, k]``, ``[k, n]``) and the
binary ops (fp32 ``[rows, cols]``); ``x`` for the unary ops and reductions;
``x`` (bf16 ``[m, k]``), ``w1``, ``w3`` (bf16 ``[k, n]``) for swiglu; ``x`` (fp32
``[rows, cols]``) for softmax, plus ``gamma`` (fp32 ``[1, cols]``) for rmsnorm and
``gamma``, ``beta`` (fp32 ``[1, cols]``) for layernorm. ``b``, ``w1``, ``w3``,
``gamma`` and ``beta`` are marked weights. The output is always ``out``. Decode
attention and the decoder layer: :mod:`.transformer` names their arrays.

The row kernels' operation order is their numerics contract (every step one binary32
operation per element, see :mod:`.golden`; ``c`` = cols, ``1/c`` and ``EPS`` rounded to
binary32 once, so ``mean`` is a multiply by ``fp32(1/c)``, not a division):

* ``softmax``: ``m = row_max(x)``; ``e = exp(x - m[r])``; ``s = row_sum(e)``;
  ``out = e * reciprocal(s)[r]``.
* ``rmsnorm``: ``ms = row_sum(x * x) * fp32(1/c)``; ``r = rsqrt(ms + EPS)``;
  ``out = (x * r[r]) * gamma[j]``.
* ``layernorm``: ``mean = row_sum(x) * fp32(1/c)``; ``d = x - mean[r]``;
  ``var = row_sum(d * d) * fp32(1/c)``; ``r = rsqrt(var + EPS)``;
  ``out = ((d * r[r]) * gamma[j]) + beta[j]``.

(``row_sum`` and ``row_max`` in their lane-then-tree orders of :mod:`.golden`.)
"""

import numpy as np

from testbench.golden.fp_vectors import hard_f32_values

from .graph import BF16, BINARY_OPS, REDUCE_OPS, UNARY_OPS, Graph

__all__ = ["KERNEL_NAMES", "GEMM_KERNELS", "ROW_KERNELS", "DECODE_KERNELS", "EPS", "kernel_graph",
           "random_inputs", "hard_fraction", "softmax", "rmsnorm", "layernorm"]

GEMM_KERNELS = ("gemm", "swiglu")
ROW_KERNELS = ("softmax", "rmsnorm", "layernorm")
DECODE_KERNELS = ("attention", "decoder")  # see .transformer
KERNEL_NAMES = (*GEMM_KERNELS, *BINARY_OPS, *UNARY_OPS, *REDUCE_OPS, *ROW_KERNELS,
                *DECODE_KERNELS)
EPS = 1e-5  # rmsnorm and layernorm, rounded to binary32 by the graph


def softmax(g: Graph, x: str, name: str = "out") -> str:
    """Row-wise softmax of ``x`` (order in the module docstring)."""
    e = g.exp(g.row_sub(x, g.row_max(x, f"{name}.max"), f"{name}.shifted"), f"{name}.exp")
    inv = g.reciprocal(g.row_sum(e, f"{name}.sum"), f"{name}.inv")
    return g.row_mul(e, inv, name)


def rmsnorm(g: Graph, x: str, gamma: str, name: str = "out", eps: float = EPS) -> str:
    """``x * rsqrt(mean(x^2) + eps) * gamma`` (order in the module docstring)."""
    cols = g.tensor(x).shape[1]
    ms = g.scale(g.row_sum(g.square(x, f"{name}.sq"), f"{name}.ss"), 1.0 / cols, f"{name}.ms")
    r = g.rsqrt(g.add_const(ms, eps, f"{name}.ms_eps"), f"{name}.rstd")
    return g.col_mul(g.row_mul(x, r, f"{name}.normed"), gamma, name)


def layernorm(g: Graph, x: str, gamma: str, beta: str, name: str = "out",
              eps: float = EPS) -> str:
    """``(x - mean) * rsqrt(var + eps) * gamma + beta`` (order in the module docstring)."""
    cols = g.tensor(x).shape[1]
    mean = g.scale(g.row_sum(x, f"{name}.sum"), 1.0 / cols, f"{name}.mean")
    d = g.row_sub(x, mean, f"{name}.centered")
    var = g.scale(g.row_sum(g.square(d, f"{name}.sq"), f"{name}.ss"), 1.0 / cols,
                  f"{name}.var")
    r = g.rsqrt(g.add_const(var, eps, f"{name}.var_eps"), f"{name}.rstd")
    scaled = g.col_mul(g.row_mul(d, r, f"{name}.normed"), gamma, f"{name}.scaled")
    return g.col_add(scaled, beta, name)


def hard_fraction(name: str) -> float:
    """The share of hard binary32 values in ``name``'s random inputs: a row kernel's row
    is NaN wherever one element is NaN or infinite, so they get few; one in a decode
    kernel's inputs spreads to every output, so they get none (the ops' own tests
    cover them)."""
    if name in DECODE_KERNELS:
        return 0.0
    return 0.02 if name in ROW_KERNELS else 0.5


def kernel_graph(name: str, *, rows: int = 4, cols: int = 4, m: int = 4, k: int = 8,
                 n: int = 4, decoder=None) -> Graph:
    """The graph of kernel ``name``: gemm/swiglu use m, k, n; attention/decoder the
    :class:`~.transformer.DecoderShape` ``decoder`` (default: its defaults); the others
    rows, cols."""
    if name in DECODE_KERNELS:
        from .transformer import DecoderShape, attention_graph, decoder_graph

        shape = decoder or DecoderShape()
        return attention_graph(shape) if name == "attention" else decoder_graph(shape)
    g = Graph()
    if name == "gemm":
        g.output(g.gemm(g.input("a", (m, k), BF16), g.input("b", (k, n), BF16, weight=True),
                        "out"))
    elif name == "swiglu":
        x = g.input("x", (m, k), BF16)
        gate = g.silu(g.gemm(x, g.input("w1", (k, n), BF16, weight=True), "h1"), "gate")
        g.output(g.mul(gate, g.gemm(x, g.input("w3", (k, n), BF16, weight=True), "h3"), "out"))
    elif name in BINARY_OPS:
        g.output(g.binary(name, g.input("a", (rows, cols)), g.input("b", (rows, cols)), "out"))
    elif name in UNARY_OPS:
        g.output(g.unary(name, g.input("x", (rows, cols)), "out"))
    elif name in REDUCE_OPS:
        g.output(g.reduce(name, g.input("x", (rows, cols)), "out"))
    elif name == "softmax":
        g.output(softmax(g, g.input("x", (rows, cols))))
    elif name == "rmsnorm":
        g.output(rmsnorm(g, g.input("x", (rows, cols)),
                         g.input("gamma", (1, cols), weight=True)))
    elif name == "layernorm":
        g.output(layernorm(g, g.input("x", (rows, cols)),
                           g.input("gamma", (1, cols), weight=True),
                           g.input("beta", (1, cols), weight=True)))
    else:
        raise ValueError(f"unknown kernel {name!r}; kernels: {', '.join(KERNEL_NAMES)}")
    return g


def random_inputs(graph: Graph, rng, hard: float = 0.5) -> dict:
    """Inputs for every graph input: a ``hard`` fraction of hard binary32 values (zeros,
    subnormals, infinities, NaNs, extremes), the rest standard normal; bf16 inputs are
    the top halves (uint16), fp32 inputs uint32 bit patterns."""
    inputs = {}
    for name in graph.inputs:
        t = graph.tensors[name]
        size = t.shape[0] * t.shape[1]
        normal = rng.standard_normal(size).astype(np.float32).view(np.uint32)
        words = np.where(rng.random(size) < hard, hard_f32_values(rng, size), normal)
        words = words.astype(np.uint32).reshape(t.shape)
        inputs[name] = (words >> 16).astype(np.uint16) if t.dtype == BF16 else words
    return inputs
