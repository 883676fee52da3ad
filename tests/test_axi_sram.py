"""Dual-port AXI4 SRAM: random concurrent bursts with strobes on both ports vs. a byte model."""

import random

import cocotb
import pytest
from axi_common import burst_cycles, disjoint_regions, run_batch
from cocotb.triggers import ClockCycles

from hdl.bus import RESP_DECERR, RESP_OKAY, RESP_SLVERR
from testbench.bfm.clock_reset import start_clock_and_reset
from testbench.bfm.dram_tier import TierPort
from testbench.bfm.scoreboard import Scoreboard
from testbench.bfm.sim_io import sim_args
from testbench.bfm.watchdog import Watchdog
from testbench.sim.build_cache import Design
from testbench.sim.runner import simulate

SEEDS = [1, 2]
SIZE = 15360  # not a multiple of 4 KiB: a burst can straddle the end without being split
BEAT = 16
DESIGN = Design("axi_sram_top", "hdl.memory.axi_sram:make_axi_sram_top",
                {"size_bytes": SIZE, "data_width": BEAT * 8, "ports": 2})


def _random_region(rng: random.Random, max_beats: int):
    """A full-beat burst, an unaligned byte range (partial strobes) or a narrow burst."""
    kind = rng.choice(("burst", "unaligned", "narrow"))
    if kind == "burst":
        length = BEAT * rng.randint(1, max_beats)
        return rng.randrange((SIZE - length) // BEAT) * BEAT, length, None
    if kind == "unaligned":
        length = rng.randint(1, BEAT * 4)
        return rng.randrange(SIZE - length), length, None
    size = rng.choice((0, 1, 2, 3))
    length = (1 << size) * rng.randint(1, 16)
    return rng.randrange((SIZE - length) >> size) << size, length, size


@cocotb.test()
async def random_traffic(dut):
    """Batches of disjoint reads and writes on both ports at once; everything read back."""
    args = sim_args()
    rng = random.Random(cocotb.RANDOM_SEED)
    await start_clock_and_reset(dut)
    ports = [TierPort(dut, f"s{p}_axi", rng=rng, stall=args["stall"]) for p in range(2)]
    watchdog = Watchdog(dut, dut.clk, [port.progress for port in ports], idle_cycles=3000)
    cocotb.start_soon(watchdog.run())
    golden = bytearray(SIZE)
    board = Scoreboard("sram reads", formatter=lambda v: v.hex()[:64])
    written = 0

    def write(start, data, size):  # either port, at random
        return rng.choice(ports).write(start, data, size=size)

    def read(start, length, size):
        return rng.choice(ports).read(start, length, size=size)

    for _ in range(args["batches"]):
        regions = disjoint_regions(args["per_batch"],
                                   lambda: _random_region(rng, args["max_beats"]))
        written += await run_batch(rng, regions, golden, board, write, read)
    for offset in range(0, SIZE, 1024):  # the whole memory, alternating ports
        board.expect([bytes(golden[offset:offset + 1024])])
        result = await ports[(offset // 1024) % 2].read(offset, 1024)
        board.receive(bytes(result.data))
    board.check_done()
    dut._log.info(f"{board.summary()}; {written} bytes written; {watchdog.cycles} cycles")


@cocotb.test()
async def out_of_range(dut):
    """Bursts past the end answer DECERR on both ports and change nothing; WRAP: SLVERR."""
    from cocotbext.axi import AxiBurstType

    rng = random.Random(cocotb.RANDOM_SEED)
    await start_clock_and_reset(dut)
    ports = [TierPort(dut, f"s{p}_axi", rng=rng, stall=0.3) for p in range(2)]
    watchdog = Watchdog(dut, dut.clk, [port.progress for port in ports], idle_cycles=3000)
    cocotb.start_soon(watchdog.run())
    tail = rng.randbytes(BEAT * 2)
    await ports[0].write(SIZE - len(tail), tail)
    for port in ports:
        result = await port.write(SIZE - BEAT, rng.randbytes(BEAT * 2))
        assert result.resp == RESP_DECERR, f"{port.name}: write past the end got {result.resp}"
        result = await port.read(SIZE - BEAT, BEAT * 2)
        assert result.resp == RESP_DECERR, f"{port.name}: read past the end got {result.resp}"
        assert bytes(result.data) == bytes(BEAT * 2), "a DECERR read returned data"
    wrap = await ports[0].master.read(0, 4 * BEAT, burst=AxiBurstType.WRAP)
    assert wrap.resp == RESP_SLVERR, f"WRAP burst answered {wrap.resp}"
    result = await ports[1].read(SIZE - len(tail), len(tail))
    assert result.resp == RESP_OKAY and bytes(result.data) == tail, "a bad write changed memory"
    await ClockCycles(dut.clk, 5)


@cocotb.test()
async def fair_arbitration(dut):
    """Both ports keep several bursts queued at once: completions alternate between the
    ports (a fixed-priority arbiter would finish one port's bursts first)."""
    await start_clock_and_reset(dut)
    ports = [TierPort(dut, f"s{p}_axi") for p in range(2)]
    order = []

    async def one_read(p):
        await ports[p].read(4096 * p, 32 * BEAT)
        order.append(p)

    tasks = [cocotb.start_soon(one_read(p)) for _ in range(6) for p in range(2)]
    for task in tasks:
        await task
    runs, longest = 1, 1
    for previous, current in zip(order, order[1:], strict=False):
        runs = runs + 1 if current == previous else 1
        longest = max(longest, runs)
    assert longest <= 2, f"unfair completion order {order}"
    dut._log.info(f"completion order {order}")


@cocotb.test()
async def burst_throughput(dut):
    """One port alone reads and writes 256-beat bursts at about a beat per cycle."""
    await start_clock_and_reset(dut)
    port = TierPort(dut, "s0_axi")
    cycles = await burst_cycles(dut, port, random.Random(1).randbytes(256 * BEAT))
    dut._log.info(f"256-beat bursts: write {cycles['write']} cycles, read {cycles['read']} cycles")
    assert max(cycles.values()) < 256 + 20, f"bursts too slow: {cycles}"


@pytest.mark.parametrize("stall", [0.0, 0.4])
def test_random_traffic(stall, seed, waves, run_name):
    simulate(DESIGN, "test_axi_sram", testcase="random_traffic", run_name=run_name, seed=seed,
             waves=waves, args={"stall": stall, "batches": 12, "per_batch": 6, "max_beats": 20})


def test_out_of_range(waves, run_name):
    simulate(DESIGN, "test_axi_sram", testcase="out_of_range", run_name=run_name, seed=1,
             waves=waves)


def test_fair_arbitration(waves, run_name):
    simulate(DESIGN, "test_axi_sram", testcase="fair_arbitration", run_name=run_name, seed=1,
             waves=waves)


def test_burst_throughput(waves, run_name):
    simulate(DESIGN, "test_axi_sram", testcase="burst_throughput", run_name=run_name, seed=1,
             waves=waves)
