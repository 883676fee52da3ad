"""The tile's passive stage-credit checker against a Python model, on random pulse trains.

Random ``configured`` / ``enabled`` / ``initial`` / ``credit`` / ``start`` inputs,
with starts often outrunning the credits, so ``error`` must both stay low while
the balance lasts and rise (and stick) on the first start without a credit.
"""

import random

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from testbench.bfm.clock_reset import start_clock_and_reset
from testbench.bfm.sim_io import save_outputs, sim_args
from testbench.sim.build_cache import Design
from testbench.sim.runner import simulate

SEEDS = [1, 2, 3, 4]
CYCLES = 400
DESIGN = Design("stage_credit_checker", "hdl.tile.stage_credit_checker:StageCreditChecker", {})


def expected_errors(stimulus) -> list[int]:
    """``error`` after each cycle's edge for ``(configured, enabled, initial, credit, start)``."""
    balance, error, out = 0, 0, []
    for configured, enabled, initial, credit, start in stimulus:
        if configured:
            balance = initial + credit
        else:
            spent = start and enabled
            if spent and balance == 0:
                error = 1
            balance += credit - spent
        out.append(error)
    return out


def random_stimulus(rng: random.Random, cycles: int):
    """First half: starts only while a credit is held (``error`` must stay low); second
    half: starts at random, outpacing the credits (it must rise). Rare reconfigurations
    and disabled cycles throughout."""
    stimulus, balance = [], 0
    for cycle in range(cycles):
        configured = int(cycle == 0 or rng.random() < 0.01)
        enabled, initial = int(rng.random() < 0.9), rng.randint(0, 3)
        credit = int(rng.random() < 0.15)
        if cycle < cycles // 2:
            start = int(not configured and balance > 0 and rng.random() < 0.3)
        else:
            start = int(rng.random() < 0.5)
        stimulus.append((configured, enabled, initial, credit, start))
        balance = initial + credit if configured else balance + credit - (start & enabled)
    return stimulus


@cocotb.test()
async def checker_follows_model(dut):
    stimulus = sim_args()["stimulus"]
    names = ("configured", "enabled", "initial", "credit", "start")
    for name in names:
        getattr(dut, name).value = 0
    await start_clock_and_reset(dut)
    await FallingEdge(dut.clk)
    seen = []
    for values in stimulus:
        for name, value in zip(names, values, strict=True):
            getattr(dut, name).value = value
        await RisingEdge(dut.clk)
        await ReadOnly()
        seen.append(int(dut.error.value))
        await FallingEdge(dut.clk)
    save_outputs(errors=np.array(seen, np.uint8))


def test_checker_flags_the_first_start_without_credit(seed, run_name, waves):
    rng = random.Random(seed)
    stimulus = random_stimulus(rng, CYCLES)
    want = expected_errors(stimulus)
    result = simulate(DESIGN, "test_control_credits_checker", testcase="checker_follows_model",
                      run_name=run_name, seed=seed, waves=waves, args={"stimulus": stimulus})
    assert 0 in want and 1 in want, "the stimulus should show both a clean and a bad stretch"
    got = result.outputs["errors"].tolist()
    differ = [i for i, (a, b) in enumerate(zip(got, want, strict=True)) if a != b]
    assert not differ, f"error differs from the model from cycle {differ[0]}: got {got[differ[0]]}"
    print(f"seed {seed}: error rose at cycle {want.index(1)} as the model says")
