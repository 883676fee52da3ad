"""Random stalls on both sides of an arithmetic unit: nothing lost, duplicated or reordered.

The cocotb coroutines below run inside the simulator; the pytest functions at
the bottom build the design and start them.
"""

import random

import cocotb
import numpy as np
import pytest
from cocotb.triggers import ClockCycles

from testbench.bfm.clock_reset import start_clock_and_reset
from testbench.bfm.scoreboard import Scoreboard
from testbench.bfm.sim_io import sim_args
from testbench.bfm.stream import StreamSink, StreamSource
from testbench.bfm.watchdog import Watchdog, WatchdogTimeout
from testbench.cli.numerics_ops import lane_array_design
from testbench.golden.numerics import int_op
from testbench.sim.runner import simulate

SEEDS = [1, 2, 3]
LANES = 2


def _pack(a, b):  # Int32ALU operands {a, b, op=ADD} for lane 0 and lane 1
    return (a[0] | (b[0] << 32)) | ((a[1] | (b[1] << 32)) << 68)


@cocotb.test()
async def stalls_lose_nothing(dut):
    args = sim_args()
    seed = cocotb.RANDOM_SEED
    rng = random.Random(seed)
    await start_clock_and_reset(dut)
    source = StreamSource(dut, "i", dut.clk, random.Random(seed + 1), args["in_stall"])
    scoreboard = Scoreboard("int32_alu add", formatter=lambda v: f"{v:016x}")
    sink = StreamSink(dut, "o", dut.clk, random.Random(seed + 2), args["out_stall"],
                      on_beat=scoreboard.receive)
    watchdog = Watchdog(dut, dut.clk, [source, sink], idle_cycles=200)
    cocotb.start_soon(watchdog.run())
    # Unique operands: a lost, repeated or swapped beat cannot match by accident.
    count = args["beats"]
    a = np.arange(count * LANES, dtype=np.uint32).reshape(count, LANES)
    b = np.array([rng.getrandbits(32) for _ in range(count * LANES)],
                 dtype=np.uint32).reshape(count, LANES)
    expected = int_op("add", a, b)
    scoreboard.expect([int(r[0]) | (int(r[1]) << 32) for r in expected])
    source.send([_pack([int(x) for x in ai], [int(y) for y in bi])
                 for ai, bi in zip(a, b, strict=True)])
    await sink.wait_for(count)
    await ClockCycles(dut.clk, 20)
    scoreboard.check_done()
    assert scoreboard.matched == count == sink.count, scoreboard.summary()
    dut._log.info(scoreboard.summary())


@cocotb.test()
async def watchdog_names_the_stopped_stream(dut):
    await start_clock_and_reset(dut)
    source = StreamSource(dut, "i", dut.clk, random.Random(1))
    dut.o__ready.value = 0  # nobody takes results: the unit must fill up and stop
    source.send(list(range(50)))
    watchdog = Watchdog(dut, dut.clk, [source], idle_cycles=30)
    try:
        await watchdog.run()
    except WatchdogTimeout as timeout:
        message = str(timeout)
    else:
        raise AssertionError("the watchdog never fired")
    assert "stream 'i'" in message and "valid=1 ready=0" in message, message


@pytest.mark.parametrize("in_stall,out_stall", [(0.0, 0.0), (0.5, 0.0), (0.0, 0.5), (0.7, 0.7)])
def test_random_stalls_lose_nothing(in_stall, out_stall, seed, waves, run_name):
    simulate(lane_array_design("int32_alu", LANES), "test_stream_stalls",
             testcase="stalls_lose_nothing",
             run_name=run_name, seed=seed, waves=waves,
             args={"in_stall": in_stall, "out_stall": out_stall, "beats": 3000})


def test_watchdog_names_the_stopped_stream(waves, run_name):
    simulate(lane_array_design("int32_alu", LANES), "test_stream_stalls",
             testcase="watchdog_names_the_stopped_stream", run_name=run_name, seed=1, waves=waves)
