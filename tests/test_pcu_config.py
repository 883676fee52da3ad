"""PCU configuration record: byte image round trip, rejection of configurations the
unit cannot run (a ValueError naming the field, before any simulation), and the RTL
dropping an image that is not for it (``cfg_error``) and then running a good one.
"""

import random
import re
from dataclasses import replace

import cocotb
import numpy as np
import pytest
from cocotb.triggers import ClockCycles, RisingEdge
from pcu_common import PARAM_SETS, job_data, random_config, run_jobs, run_pcu_program

from pcu_pmu.pcu.config import (
    CounterConfig,
    Emit,
    Mode,
    PCUConfig,
    PCUParams,
    ReduceOp,
    Src,
    StageOp,
    TailOp,
    config_words,
)

SEEDS = [1, 2, 3]


@cocotb.test()
async def pcu_program(dut):
    await run_pcu_program(dut)


@cocotb.test()
async def bad_image_is_dropped(dut):
    """A wrong image raises cfg_error and leaves the unit unconfigured; a good one then runs."""
    from testbench.bfm.clock_reset import start_clock_and_reset
    from testbench.bfm.sim_io import sim_inputs
    from testbench.bfm.stream import StreamSource
    from testbench.bfm.watchdog import Watchdog

    data = sim_inputs()
    await start_clock_and_reset(dut)
    source = StreamSource(dut, "cfg", dut.clk, random.Random(cocotb.RANDOM_SEED), 0.3)
    watchdog = Watchdog(dut, dut.clk, [source], idle_cycles=200, max_cycles=5000, unit="pcu")
    cocotb.start_soon(watchdog.run())
    for name in ("vec_in", "scalar_in"):
        getattr(dut, f"{name}__valid").value = 0
    for name in ("vec_out", "scalar_out", "done"):
        getattr(dut, f"{name}__ready").value = 1
    source.send([int(w) for w in data["bad"]])
    await source.wait_idle()
    for _ in range(10):
        await RisingEdge(dut.clk)
    assert int(dut.cfg_error.value) == 1, "the unit accepted an image that is not for it"
    assert int(dut.configured.value) == 0
    source.send([int(w) for w in data["good"]])
    await source.wait_idle()
    await ClockCycles(dut.clk, 10)
    assert int(dut.cfg_error.value) == 0 and int(dut.configured.value) == 1


# -- pure Python -------------------------------------------------------------------------------

def test_image_round_trip(seed):
    rng = np.random.default_rng(seed)
    for params in PARAM_SETS.values():
        for _ in range(50):
            config = random_config(rng, params)
            raw = config.to_bytes()
            assert len(raw) == 4 * config_words(params.stages)
            assert PCUConfig.from_bytes(raw) == config
            assert b"".join(w.to_bytes(4, "little") for w in config.to_words()) == raw


def test_image_layout_is_documented():
    config = PCUConfig(lanes=4, stages=3, counters=(
        CounterConfig(5, -2, -7), CounterConfig(1, 3, 9), CounterConfig(2, 0, 0)),
        reduce=ReduceOp.SUM, tail=TailOp.BF16, use_scalar=True, emit=Emit.INNER_LAST, passes=3,
        seed=0xC0FFEE01)
    config = config.with_stage(0, op=StageOp.SEL, a=Src.SCALAR, b=Src.IMM, c=Src.LANE,
                               imm=0xDEADBEEF)
    words = config.to_words()
    assert words[0] == 0x50 | (2 << 8) | (4 << 16) | (3 << 24)
    assert words[1] == 0 | (1 << 2) | (1 << 4) | (1 << 8) | (1 << 9) | (3 << 16)
    assert words[2] == 0xC0FFEE01
    assert words[3] == 5 | (0xFFFE << 16) and words[4] == 0xFFFFFFF9
    assert words[9] == StageOp.SEL | (Src.SCALAR << 5) | (Src.IMM << 9) | (Src.LANE << 13)
    assert words[10] == 0xDEADBEEF
    assert len(words) == 9 + 2 * 3
    gelu = replace(config, tail=TailOp.GELU).to_words()
    assert gelu[1] == words[1] - (TailOp.BF16 << 4) + (TailOp.GELU << 4)


SMALL = PARAM_SETS["4x3"]


def _base(params=SMALL, **kwargs):
    return PCUConfig(lanes=params.lanes, stages=params.stages, **kwargs)


PLAIN = PCUParams(lanes=4, stages=3)          # no systolic array
WIDE = PCUParams(lanes=16, stages=4)


@pytest.mark.parametrize("make,params,field", [
    (lambda: _base(counters=(CounterConfig(0), CounterConfig(), CounterConfig())), SMALL,
     "counters[0].bound"),
    (lambda: _base(counters=(CounterConfig(), CounterConfig(70000), CounterConfig())), SMALL,
     "counters[1].bound"),
    (lambda: _base(counters=(CounterConfig(), CounterConfig(), CounterConfig(2, 40000))), SMALL,
     "counters[2].stride"),
    (lambda: _base(counters=(CounterConfig(), CounterConfig())), SMALL, "counters"),
    (lambda: _base().with_stage(1, op=StageOp.FADD, a=Src.SCALAR), SMALL, "stage[1].a"),
    (lambda: _base().with_stage(0, op=31), SMALL, "stage[0].op"),
    (lambda: _base().with_stage(2, b=12, op=StageOp.FMUL), SMALL, "stage[2].b"),
    (lambda: _base().with_stage(0, imm=1 << 32), SMALL, "stage[0].imm"),
    (lambda: _base(reduce=ReduceOp.SUM).with_stage(2, op=StageOp.FMUL), SMALL, "stage[2].op"),
    (lambda: _base(WIDE, reduce=ReduceOp.MAX), WIDE, "reduce"),
    (lambda: _base(mode=Mode.SYSTOLIC), PLAIN, "mode"),
    (lambda: _base(mode=Mode.SYSTOLIC).with_stage(0, op=StageOp.FADD), SMALL, "stage[0].op"),
    (lambda: _base(mode=Mode.SYSTOLIC, reduce=ReduceOp.SUM), SMALL, "reduce"),
    (lambda: _base(mode=Mode.SYSTOLIC, tail=TailOp.BF16), SMALL, "tail"),
    (lambda: _base(mode=Mode.SYSTOLIC, use_scalar=True), SMALL, "use_scalar"),
    (lambda: _base(mode=Mode.SYSTOLIC, tail=TailOp.BF16_STOCHASTIC), SMALL, "tail"),
    (lambda: _base(tail=8), SMALL, "tail"),
    (lambda: _base(seed=1 << 32), SMALL, "seed"),
    (lambda: _base(seed=-1), SMALL, "seed"),
    (lambda: _base(passes=0), SMALL, "passes"),
    (lambda: PCUConfig(lanes=8, stages=3), SMALL, "lanes"),
    (lambda: PCUConfig(lanes=4, stages=5), SMALL, "stages"),
])
def test_rejects_unrunnable_config(make, params, field):
    with pytest.raises(ValueError, match=rf"field {re.escape(field)}:"):
        make().validate(params)


def test_rejects_bad_images():
    good = _base().to_bytes()
    with pytest.raises(ValueError, match="magic"):
        PCUConfig.from_bytes(b"\x00" + good[1:])
    with pytest.raises(ValueError, match="image"):
        PCUConfig.from_bytes(good[:-4])
    with pytest.raises(ValueError, match="version"):  # a version-1 image (no seed word)
        PCUConfig.from_bytes(good[:1] + b"\x01" + good[2:])


def test_params_checked():
    with pytest.raises(ValueError, match="lanes"):
        PCUParams(lanes=6)
    with pytest.raises(ValueError, match="vec_fifo_depth"):
        PCUParams(vec_fifo_depth=1)


# -- RTL -----------------------------------------------------------------------------------------

def test_rtl_drops_foreign_image(waves, run_name):
    from pcu_common import pcu_design

    from testbench.sim.runner import simulate

    seed = 5
    rng = np.random.default_rng(seed)
    good = random_config(rng, SMALL)
    bad = good.to_words()
    bad[0] = (bad[0] & 0x00FFFFFF) | (2 << 24)  # claims 2 stages on a 3-stage unit
    simulate(pcu_design(SMALL), "test_pcu_config", testcase="bad_image_is_dropped",
             run_name=run_name, seed=seed, waves=waves,
             inputs={"bad": np.array(bad, dtype=np.uint32),
                     "good": np.array(good.to_words(), dtype=np.uint32)})


def test_rtl_max_bound_corner(waves, run_name):
    """One counter at a large bound (the others 1): a long pass through the small unit."""
    rng = np.random.default_rng(7)
    config = random_config(rng, SMALL)
    config = PCUConfig(**{**config.__dict__, "counters": (
        CounterConfig(1, 1, 0), CounterConfig(300, -1, 5), CounterConfig(1, 9, 0)), "passes": 1})
    jobs = [job_data(rng, SMALL, config.validate(SMALL))]
    run_jobs(SMALL, jobs, test_module="test_pcu_config", seed=7, run_name=run_name, waves=waves,
             pattern="heavy_out", stall_rng=rng)
