"""Named single-kernel graphs (what ``rdu kernel NAME`` runs) and their random inputs.

Input array names: ``a``, ``b`` for gemm (bf16 ``[m, k]``, ``[k, n]``) and the
binary ops (fp32 ``[rows, cols]``); ``x`` for the unary ops and reductions;
``x`` (bf16 ``[m, k]``), ``w1``, ``w3`` (bf16 ``[k, n]``) for swiglu. ``b``, ``w1``
and ``w3`` are marked weights. The output is always ``out``.
"""

import numpy as np

from testbench.golden.fp_vectors import hard_f32_values

from .graph import BF16, BINARY_OPS, REDUCE_OPS, UNARY_OPS, Graph

__all__ = ["KERNEL_NAMES", "GEMM_KERNELS", "kernel_graph", "random_inputs"]

GEMM_KERNELS = ("gemm", "swiglu")
KERNEL_NAMES = (*GEMM_KERNELS, *BINARY_OPS, *UNARY_OPS, *REDUCE_OPS)


def kernel_graph(name: str, *, rows: int = 4, cols: int = 4, m: int = 4, k: int = 8,
                 n: int = 4) -> Graph:
    """The graph of kernel ``name``: gemm/swiglu use m, k, n; the others rows, cols."""
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
