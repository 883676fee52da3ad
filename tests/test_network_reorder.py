"""Reorder buffer: flits permuted within the window come out in sequence order, under stalls.

Streams are longer than the seq space, so the sequence numbers wrap several
times. ``clear`` is checked by leaving a stream with a gap (nothing may come
out), clearing, and then sending a whole new stream from seq 0. A flit ahead of
the window is refused. The cocotb coroutine runs inside the simulator.
"""

import random

import cocotb
import numpy as np
import pytest
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from testbench.bfm.clock_reset import start_clock_and_reset
from testbench.bfm.scoreboard import Scoreboard
from testbench.bfm.sim_io import save_outputs, sim_args
from testbench.bfm.stream import StreamSink, StreamSource
from testbench.bfm.watchdog import Watchdog
from testbench.golden.network import FlitFormat, window_permutation
from testbench.sim.build_cache import Design
from testbench.sim.runner import simulate

SEEDS = [1, 2]


def _stream(rng, fmt, count, window):
    """(in arrival order, in sequence order) for one stream of ``count`` flits."""
    flow = rng.randrange(1 << fmt.flow_bits)
    ordered = [fmt.pack(rng.getrandbits(fmt.data_width), flow, i % (1 << fmt.seq_bits),
                        int(i == count - 1)) for i in range(count)]
    return [ordered[i] for i in window_permutation(rng, count, window)], ordered


@cocotb.test()
async def reorder_streams(dut):
    args = sim_args()
    window = args["window"]
    fmt = FlitFormat(args["data_width"], args["flow_bits"], args["seq_bits"])
    seed = cocotb.RANDOM_SEED
    rng = random.Random(seed)
    dut.clear.value = 0
    await start_clock_and_reset(dut)

    # A flit a whole window ahead of seq 0 is refused (if the seq space has room for one).
    if window < 1 << fmt.seq_bits:
        dut.i__valid.value = 1
        dut.i__payload.value = fmt.pack(0x5A, 0, window, 0)
        await ReadOnly()
        refused = int(dut.i__ready.value) == 0
        await RisingEdge(dut.clk)
        dut.i__valid.value = 0
        assert refused, f"seq {window} was taken while seq 0 was due (window {window})"

    board = Scoreboard("reorder", formatter=fmt.describe)
    source = StreamSource(dut, "i", dut.clk, random.Random(seed + 1), args["in_stall"])
    sink = StreamSink(dut, "o", dut.clk, random.Random(seed + 2), args["out_stall"],
                      on_beat=board.receive)
    watchdog = Watchdog(dut, dut.clk, [source, sink], idle_cycles=300, max_cycles=100_000,
                        unit="reorder")
    cocotb.start_soon(watchdog.run())

    # A stream missing seq 0: it is buffered but nothing may leave. Then clear.
    if window > 1:
        arrived, _ = _stream(rng, fmt, window, window)
        gapped = [flit for flit in arrived if fmt.unpack(flit)[2] != 0]
        source.send(gapped)
        await source.wait_idle()
        await ClockCycles(dut.clk, 30)
        assert sink.count == 0, f"{sink.count} flits left although seq 0 never arrived"
        dut.clear.value = 1
        await RisingEdge(dut.clk)
        dut.clear.value = 0

    start = watchdog.cycles
    for _ in range(args["streams"]):
        arrived, ordered = _stream(rng, fmt, args["flits"], window)
        board.expect(ordered)
        source.send(arrived)
        await sink.wait_for(len(board.expected))
        await RisingEdge(dut.clk)
        dut.clear.value = 1  # the next stream starts again at seq 0
        await RisingEdge(dut.clk)
        dut.clear.value = 0
    cycles = watchdog.cycles - start
    await ClockCycles(dut.clk, 30)
    board.check_done()
    assert board.matched == len(board.expected) == sink.count, board.summary()
    dut._log.info(f"{board.summary()} in {cycles} cycles")
    save_outputs(cycles=np.array(cycles), flits=np.array(sink.count))


REORDER_CASES = {
    "w8_s5": {"window": 8, "seq_bits": 5},
    "w32_full_seq_space": {"window": 32, "seq_bits": 5},
    "w1_in_order": {"window": 1, "seq_bits": 4},
}
STALLS = {"none": (0.0, 0.0), "both": (0.5, 0.5), "slow_out": (0.1, 0.7)}


@pytest.mark.parametrize("stall", list(STALLS))
@pytest.mark.parametrize("case", list(REORDER_CASES))
def test_reorder_random_permutations(case, stall, seed, waves, run_name):
    params = {"data_width": 16, "flow_bits": 6, **REORDER_CASES[case]}
    design = Design(f"reorder_{case}", "hdl.network.reorder:make_reorder", params)
    in_stall, out_stall = STALLS[stall]
    result = simulate(design, "test_network_reorder", testcase="reorder_streams",
                      run_name=run_name, seed=seed, waves=waves,
                      args={**params, "in_stall": in_stall, "out_stall": out_stall,
                            "streams": 3, "flits": 150})
    assert int(result.outputs["flits"]) == 3 * 150
