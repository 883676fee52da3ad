"""PCU systolic body in the simulator: tiles back to back, every row of C scoreboarded.

The ``systolic_tiles`` test is what :func:`testbench.cli.bench_systolic.run_systolic`
starts (``tests/test_pcu_systolic.py`` and ``rdu bench pcu``). Arguments
(RDU_SIM_ARGS): ``rows``, ``cols`` and the ``a_stall``, ``b_stall``, ``c_stall``
probabilities. Inputs: ``k`` (K of each tile), ``a`` and ``b`` beats, ``c`` (the
expected rows of C). Outputs: ``c`` (the rows received) and the cycle stamps
``first_in``, ``last_in`` and ``first_out`` per tile, and ``last_out``.
"""

import random

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, RisingEdge

from testbench.bfm.clock_reset import start_clock_and_reset
from testbench.bfm.scoreboard import Scoreboard
from testbench.bfm.sim_io import save_outputs, sim_args, sim_inputs
from testbench.bfm.stream import StreamSink, StreamSource
from testbench.bfm.watchdog import Watchdog
from testbench.sim.packing import beats_to_ints, ints_to_beats


async def _track_tiles(dut, source, sink, ks, rows, stamps):
    """Switch ``k_len`` right after each tile's last beat is taken; stamp the cycles."""
    ends = np.cumsum(ks)
    tile, cycle = 0, 0
    while len(stamps["first_out"]) < len(ks) or sink.count < len(ks) * rows:
        await RisingEdge(dut.clk)
        cycle += 1
        if stamps["first_in"] is None and source.count:
            stamps["first_in"] = cycle
        while tile < len(ks) and source.count >= ends[tile]:
            stamps["last_in"].append(cycle)
            tile += 1
            if tile < len(ks):
                dut.k_len.value = int(ks[tile])
        while len(stamps["first_out"]) < len(ks) and sink.count > len(stamps["first_out"]) * rows:
            stamps["first_out"].append(cycle)
    stamps["last_out"] = cycle


@cocotb.test()
async def systolic_tiles(dut):
    """Plays tiles back to back with random stalls on a, b and c; scoreboards every row of C."""
    args, inputs = sim_args(), sim_inputs()
    seed = cocotb.RANDOM_SEED
    rows, cols = args["rows"], args["cols"]
    ks = [int(k) for k in inputs["k"]]
    expected = beats_to_ints(inputs["c"])
    dut.k_len.value = ks[0]
    await start_clock_and_reset(dut)
    source_a = StreamSource(dut, "a", dut.clk, random.Random(seed + 1), args["a_stall"])
    source_b = StreamSource(dut, "b", dut.clk, random.Random(seed + 2), args["b_stall"])
    scoreboard = Scoreboard("systolic C rows", formatter=lambda v: f"{v:0{8 * cols}x}")
    scoreboard.expect(expected)
    sink = StreamSink(dut, "c", dut.clk, random.Random(seed + 3), args["c_stall"],
                      on_beat=scoreboard.receive)
    beats = sum(ks)
    watchdog = Watchdog(dut, dut.clk, [source_a, source_b, sink], idle_cycles=1000,
                        max_cycles=40 * (beats + len(ks) * rows) + 1000, unit="SystolicArray")
    cocotb.start_soon(watchdog.run())
    stamps = {"first_in": None, "last_in": [], "first_out": [], "last_out": None}
    tracker = cocotb.start_soon(_track_tiles(dut, source_a, sink, ks, rows, stamps))
    source_a.send(beats_to_ints(inputs["a"]))
    source_b.send(beats_to_ints(inputs["b"]))
    await sink.wait_for(len(expected))
    await tracker
    await ClockCycles(dut.clk, 30)  # anything extra coming out would now be seen
    scoreboard.check_done()
    assert scoreboard.matched == len(expected) == sink.count, scoreboard.summary()
    assert source_a.count == source_b.count == beats, (source_a.describe(), source_b.describe())
    dut._log.info(scoreboard.summary())
    save_outputs(c=ints_to_beats(sink.received, 4 * cols), first_in=np.array(stamps["first_in"]),
                 last_in=np.array(stamps["last_in"]), first_out=np.array(stamps["first_out"]),
                 last_out=np.array(stamps["last_out"]))
