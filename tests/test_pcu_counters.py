"""PCU counter chain: nested loops with programmable bounds (including 1), strides and
starts sequence the unit, feed counter values to the stages and raise one done token
per pass; checked bit-exactly against the golden model under random stalls.
"""

import itertools

import cocotb
import numpy as np
import pytest
from pcu_common import PARAM_SETS, job_data, random_counters, run_jobs, run_pcu_program

from pcu_pmu.pcu.config import (
    CounterConfig,
    Emit,
    PCUConfig,
    ReduceOp,
    Src,
    StageConfig,
    StageOp,
    TailOp,
)
from testbench.golden.pcu import iteration_space

SEEDS = [1, 2]


@cocotb.test()
async def pcu_program(dut):
    await run_pcu_program(dut)


def counter_config(rng, params, counters, passes=1, emit=Emit.EVERY):
    """Stage 0..2 fold the three counter values (and the lane) into each output lane."""
    stages = [
        StageConfig(StageOp.IADD, Src.CTR0, Src.LANE),
        StageConfig(StageOp.IXOR, Src.PREV, Src.CTR1),
        StageConfig(StageOp.IMUL, Src.PREV, Src.CTR2),
    ] + [StageConfig(StageOp.IADD, Src.PREV, Src.IMM, imm=int(rng.integers(0, 1 << 32)))
         for _ in range(params.stages - 3)]
    return PCUConfig(lanes=params.lanes, stages=params.stages, stage=tuple(stages),
                     counters=counters, reduce=ReduceOp.NONE, tail=TailOp.PASS, emit=emit,
                     passes=passes).validate(params)


def test_iteration_order_and_flags():
    config = PCUConfig(lanes=4, stages=3, counters=(
        CounterConfig(3, 5, 1), CounterConfig(1, 7, 0), CounterConfig(2, -4, 100)))
    points = list(iteration_space(config))
    want = [(c0, c1, c2) for c2, c1, c0 in itertools.product(range(2), range(1), range(3))]
    assert [tuple(v) for v, *_ in points] == [
        (1 + 5 * i0, 7 * i1, (100 - 4 * i2) & 0xFFFFFFFF) for i0, i1, i2 in want]
    assert [first for _, first, _, _ in points] == [True, False, False] * 2
    assert [li for _, _, li, _ in points] == [False, False, True] * 2
    assert [last for *_, last in points] == [False] * 5 + [True]


# The 16-lane, 6-stage unit is its own build; it runs with `make regress`.
@pytest.mark.parametrize("pname", ["4x3", pytest.param("16x6", marks=pytest.mark.regress)])
def test_counters_sequence_the_unit(pname, seed, waves, run_name):
    params = PARAM_SETS[pname]
    rng = np.random.default_rng([seed, 77, len(pname)])
    jobs = []
    corner_sets = [
        (CounterConfig(1, 3, 0), CounterConfig(1, 1, 0), CounterConfig(1, 1, 0)),  # one point
        (CounterConfig(4, -3, 10), CounterConfig(1, 2, 0), CounterConfig(3, 1000, -5)),
    ]
    for counters in corner_sets + [random_counters(rng, 30) for _ in range(2)]:
        config = counter_config(rng, params, counters, passes=int(rng.integers(1, 4)),
                                emit=Emit(int(rng.integers(0, 2))))
        jobs.append(job_data(rng, params, config))
    out = run_jobs(params, jobs, test_module="test_pcu_counters", seed=seed, run_name=run_name,
                   waves=waves, pattern="heavy_both" if seed % 2 else "heavy_out", stall_rng=rng)
    total_passes = sum(config.passes for config, _, _ in jobs)
    assert out["done"].tolist() == list(range(total_passes))
