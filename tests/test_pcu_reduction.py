"""PCU cross-lane reduction tree (SUM and MAX on the last log2(lanes) stages): its fixed
pairwise order, its accuracy against float64 (a separate, stated bound) and the RTL
bit-exact against the golden model on both parameter sets under random stalls.
"""

import cocotb
import numpy as np
import pytest
from pcu_common import PARAM_SETS, random_jobs, run_jobs, run_pcu_program

from pcu_pmu.pcu.config import ReduceOp
from testbench.golden import numerics as g
from testbench.golden.pcu import reduce_lanes

SEEDS = [1, 2]


@cocotb.test()
async def pcu_program(dut):
    await run_pcu_program(dut)


def test_tree_order_is_pairwise():
    rng = np.random.default_rng(5)
    x = rng.standard_normal(4).astype(np.float32).view(np.uint32) * np.uint32(1)
    want = g.f32_add(g.f32_add(x[0], x[1]), g.f32_add(x[2], x[3]))
    assert reduce_lanes(x, ReduceOp.SUM) == int(want)
    # Not sequential: a case where the orders differ must follow the tree.
    y = np.array([0x4B800000, 0x3F800000, 0x3F800000, 0xCB800000], dtype=np.uint32)
    # 2^24, 1, 1, -2^24: (2^24 + 1) rounds to 2^24, (1 - 2^24) is exact, so the tree gives 1.0
    # where the sequential sum ((2^24 + 1) + 1) - 2^24 gives 0.
    sequential = g.f32_add(g.f32_add(g.f32_add(y[0], y[1]), y[2]), y[3])
    assert int(sequential) == 0 and reduce_lanes(y, ReduceOp.SUM) == 0x3F800000
    assert reduce_lanes(y, ReduceOp.MAX) == 0x4B800000


def test_tree_sum_accuracy_bound():
    """|tree - exact| <= gamma_L * sum|x|, L = log2(lanes), gamma_L = L u / (1 - L u), u = 2^-24."""
    rng = np.random.default_rng(11)
    for lanes in (4, 16):
        levels = lanes.bit_length() - 1
        u = 2.0 ** -24
        gamma = levels * u / (1 - levels * u)
        for _ in range(2000):
            x = (rng.standard_normal(lanes) * 10.0 ** rng.integers(-3, 4, lanes)).astype(np.float32)
            got = np.uint32(reduce_lanes(x.view(np.uint32), ReduceOp.SUM)).view(np.float32)
            exact = np.sum(x.astype(np.float64))
            assert abs(float(got) - exact) <= gamma * np.sum(np.abs(x.astype(np.float64)))


@pytest.mark.parametrize("pname", ["4x3", "16x6"])
def test_reduction_rtl(pname, seed, waves, run_name):
    params = PARAM_SETS[pname]
    rng = np.random.default_rng([seed, 99, len(pname)])
    jobs = (random_jobs(rng, params, 2, reduce=ReduceOp.SUM)
            + random_jobs(rng, params, 2, reduce=ReduceOp.MAX))
    out = run_jobs(params, jobs, test_module="test_pcu_reduction", seed=seed, run_name=run_name,
                   waves=waves, pattern="heavy_both" if seed % 2 else "light", stall_rng=rng)
    assert len(out["vec_out"]) == 0
    assert len(out["scalar_out"]) == sum(c.passes * c.outputs_per_pass for c, _, _ in jobs)
