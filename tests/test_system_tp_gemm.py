"""Tensor-parallel GEMM across sockets, bit-exact: K split + AllReduce, N split + all-gather.

``C = A @ B`` (bf16 x bf16 -> fp32). K split (testbench/system/tp_gemm.py): K cut
into one contiguous range per socket, every socket runs the kernel compiler's GEMM
kernels on its slice, then the ring AllReduce sums the partials in place. Checked
bit for bit: every socket's partial against the compiler's golden GEMM of its
slice, and every socket's final ``C`` against the golden that sums those partials
in the AllReduce's documented order. N split (testbench/system/tp_gemm_columns.py):
every socket computes a block of columns with all of K, the ring all-gather copies
the blocks everywhere; every socket's ``C`` must equal the compiler's golden GEMM of
the whole product. Shapes are not multiples of the lanes (nor K, N of the
sockets). The hosts' AXI channels pause at random (seeded); each Runtime's cycle
budget is the watchdog; the meshes' credit checkers and the links'
source/destination and protocol checkers run throughout.
"""

import numpy as np
import pytest
from system_common import check_bits, check_links

from hdl.system.config import SystemParams
from testbench.compiler import evaluate
from testbench.golden.fp_vectors import hard_f32_values
from testbench.system.tp_gemm import TPGemm, gemm_graph, split_ranges
from testbench.system.tp_gemm_columns import TPGemmColumns

SEEDS = [1]


def _bf16(rng, shape, hard=0.05):
    """bf16 bit patterns: mostly normal values, a ``hard`` fraction of zeros, subnormals,
    extremes (infinities and NaNs too, but few enough that most of C stays finite)."""
    size = shape[0] * shape[1]
    words = rng.standard_normal(size).astype(np.float32).view(np.uint32)
    words = np.where(rng.random(size) < hard, hard_f32_values(rng, size), words)
    return (words.astype(np.uint32) >> 16).astype(np.uint16).reshape(shape)


def _simulate(split_gemm, sockets, m, k, n, seed, run_name, waves):
    """``split_gemm`` (TPGemm or TPGemmColumns) on ``sockets`` sockets run on random
    operands with the hosts' AXI channels pausing; returns (it, a, b, its results), the
    links already checked."""
    rng = np.random.default_rng(seed)
    a, b = _bf16(rng, (m, k)), _bf16(rng, (k, n))
    tp = split_gemm(SystemParams(sockets=sockets), m, k, n)
    result = tp.script(a, b).run(run_name=run_name, seed=seed, waves=waves, host_stall=0.2,
                                 timeout_cycles=400_000)
    check_links(result)
    return tp, a, b, tp.collect(result)


def _run(sockets, m, k, n, seed, run_name, waves):
    tp, a, b, got = _simulate(TPGemm, sockets, m, k, n, seed, run_name, waves)
    partials, want = tp.golden(a, b)
    finite = np.isfinite(want.view(np.float32)).mean()
    assert finite > 0.25, f"only {finite:.0%} of C is finite: the test would check little"
    for s in range(sockets):
        check_bits(got.partials[s], partials[s], f"socket {s} partial")
        check_bits(got.outputs[s], want, f"socket {s} C")
    print(f"TP GEMM [{m}, {k}] x [{k}, {n}] on {sockets} sockets (K slices "
          f"{[len(r) for r in tp.ranges]}): GEMM {got.gemm_cycles} host cycles per socket, "
          f"AllReduce of {tp.region_words} words {got.allreduce_cycles} cycles "
          f"({got.allreduce_kernel_cycles} in kernel phases)")


def _run_columns(sockets, m, k, n, seed, run_name, waves):
    tp, a, b, got = _simulate(TPGemmColumns, sockets, m, k, n, seed, run_name, waves)
    want = tp.golden(a, b)
    rdu = tp.system.socket_rdu(0)
    whole = evaluate(gemm_graph(m, k, n), {"a": a, "b": b}, rdu.lanes, rdu.pmu_depth)["c"]
    check_bits(want, whole, "column blocks' golden vs the unsplit GEMM's")
    for s in range(sockets):
        check_bits(got.outputs[s], want, f"socket {s} C")
    print(f"column-split GEMM [{m}, {k}] x [{k}, {n}] on {sockets} sockets (N slices "
          f"{[len(r) for r in tp.ranges]}): GEMM {got.gemm_cycles} host cycles per socket, "
          f"all-gather {got.gather_cycles} cycles")


def test_split_ranges_cover_the_dimension_in_order():
    assert split_ranges(22, 2) == [range(0, 11), range(11, 22)]
    assert split_ranges(37, 4) == [range(0, 10), range(10, 19), range(19, 28), range(28, 37)]
    with pytest.raises(ValueError, match="N = 3 cannot be split"):
        split_ranges(3, 4, "N")


def test_tp_gemm_two_sockets_bit_exact(seed, run_name, waves):
    _run(2, 6, 22, 7, seed, run_name, waves)


# The 4-socket build takes 4-10 minutes: it runs in `make regress`.
@pytest.mark.regress
def test_tp_gemm_four_sockets_bit_exact(seed, run_name, waves):
    _run(4, 5, 37, 6, seed, run_name, waves)


def test_tp_gemm_columns_two_sockets_bit_exact(seed, run_name, waves):
    _run_columns(2, 6, 19, 11, seed, run_name, waves)


@pytest.mark.regress
def test_tp_gemm_columns_four_sockets_bit_exact(seed, run_name, waves):
    _run_columns(4, 5, 13, 14, seed, run_name, waves)
