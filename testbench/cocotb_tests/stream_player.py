"""Plays a list of beats into a one-in, one-out stream design and records what comes out.

Arguments (RDU_SIM_ARGS): ``in_stall`` and ``out_stall`` probabilities,
``out_bytes`` (bytes per output beat), ``idle_cycles`` for the watchdog.
Inputs: ``beats`` (uint8 rows). Outputs: ``beats``, ``cycles`` (cycles from
the first offered beat to the last received) and ``seconds`` (wall time of those cycles).
"""

import random
import time

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles

from testbench.bfm.clock_reset import start_clock_and_reset
from testbench.bfm.sim_io import save_outputs, sim_args, sim_inputs
from testbench.bfm.stream import StreamSink, StreamSource
from testbench.bfm.watchdog import Watchdog
from testbench.sim.packing import beats_to_ints, ints_to_beats


@cocotb.test()
async def play_beats(dut):
    args = sim_args()
    beats = beats_to_ints(sim_inputs()["beats"])
    seed = cocotb.RANDOM_SEED
    await start_clock_and_reset(dut)
    source = StreamSource(dut, "i", dut.clk, random.Random(seed), args.get("in_stall", 0.0))
    sink = StreamSink(dut, "o", dut.clk, random.Random(seed + 1), args.get("out_stall", 0.0))
    watchdog = Watchdog(dut, dut.clk, [source, sink], idle_cycles=args.get("idle_cycles", 1000))
    cocotb.start_soon(watchdog.run())
    started = time.perf_counter()
    source.send(beats)
    await sink.wait_for(len(beats))
    seconds = time.perf_counter() - started
    cycles = watchdog.cycles
    await ClockCycles(dut.clk, args.get("drain_cycles", 32))
    assert sink.count == len(beats), (
        f"{sink.count - len(beats)} beats more than the {len(beats)} sent came out")
    save_outputs(beats=ints_to_beats(sink.received, args["out_bytes"]),
                 cycles=np.array(cycles), seconds=np.array(seconds))
