"""DRAM tiers behind AXI4: data integrity under random stalls, error responses, latency.

Every cocotb test ends by reading the tier's passive timing checker: a single
violated rule fails the test with both commands, cycles and banks.
"""

import random

import cocotb
import pytest
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from hdl.bus import RESP_DECERR, RESP_OKAY, RESP_SLVERR
from memory_ctrl.presets import preset
from memory_ctrl.tier_params import tier_configs
from testbench.bfm.clock_reset import start_clock_and_reset
from testbench.bfm.dram_tier import TierPort
from testbench.bfm.scoreboard import Scoreboard
from testbench.bfm.sim_io import sim_args
from testbench.bfm.watchdog import Watchdog
from testbench.cli.mem_traffic import TEST_SYSTEM, memory_system_design
from testbench.sim.runner import simulate

SEEDS = [1, 2]

SYSTEM = TEST_SYSTEM  # 8 MiB HBM (2 channels), 192 MiB DDR: one build
TIERS = tier_configs(**SYSTEM)
DESIGN = memory_system_design(**SYSTEM)


def _args(name: str, **extra) -> dict:
    cfg = TIERS[name]
    return {"tier": name, "capacity": cfg.capacity, "beat": cfg.data_bytes, **extra}


def _port(dut, args, **options) -> TierPort:
    tier = args["tier"]
    return TierPort(dut, args.get("axi", f"s_axi_{tier}"), args.get("obs", f"{tier}_"), **options)


@cocotb.test()
async def random_traffic(dut):
    """Concurrent random reads and writes (full bursts and narrow beats) with AXI stalls."""
    args = sim_args()
    rng = random.Random(cocotb.RANDOM_SEED)
    await start_clock_and_reset(dut)
    port = _port(dut, args, rng=rng, stall=args["stall"])
    watchdog = Watchdog(dut, dut.clk, [port.progress], idle_cycles=5000)
    cocotb.start_soon(watchdog.run())
    capacity, beat = args["capacity"], args["beat"]
    golden = bytearray(capacity)
    board = Scoreboard("tier reads", formatter=lambda v: v.hex()[:64])
    written = 0
    touched = []
    for _ in range(args["batches"]):
        # disjoint regions in one batch, so the expected data does not depend on ordering
        regions = []
        while len(regions) < args["per_batch"]:
            narrow = rng.random() < 0.25
            length = 64 if narrow else beat * rng.randint(1, args["max_beats"])
            unit = 64 if narrow else beat
            start = rng.randrange((capacity - length) // unit) * unit
            if all(start + length <= s or s + n <= start for s, n, _ in regions):
                regions.append((start, length, narrow))
        tasks, writes, reads = [], [], []
        for start, length, narrow in regions:
            size = 6 if narrow else None
            if rng.random() < 0.5:
                data = rng.randbytes(length)
                writes.append((start, data, narrow))
                tasks.append(cocotb.start_soon(port.write(start, data, size=size)))
            else:
                reads.append((start, length))
                board.expect([bytes(golden[start:start + length])])
                tasks.append(cocotb.start_soon(port.read(start, length, size=size)))
        results = [await task for task in tasks]
        for result in (r for r in results if hasattr(r, "data")):
            assert result.resp == RESP_OKAY, f"read answered {result.resp}"
            board.receive(bytes(result.data))
        for result in results:
            if not hasattr(result, "data"):
                assert result.resp == RESP_OKAY, f"write answered {result.resp}"
        for start, data, _ in writes:
            golden[start:start + len(data)] = data
            written += len(data)
            touched.append((start, len(data), 6 if len(data) < beat else None))
    # read every written region back once more at the end
    for start, length, size in touched:
        board.expect([bytes(golden[start:start + length])])
        result = await port.read(start, length, size=size)
        assert result.resp == RESP_OKAY, f"read back of {start:#x} answered {result.resp}"
        board.receive(bytes(result.data))
    board.check_done()
    await ClockCycles(dut.clk, 10)
    report = port.assert_timing_clean(min_commands=100)
    counters = port.counters()
    assert counters["errors"] == 0, counters
    dut._log.info(f"{board.summary()}; {written} bytes written; checker saw "
                  f"{report['commands']} commands, {counters['refreshes']} refreshes")


@cocotb.test()
async def bad_requests(dut):
    """Out-of-range, misaligned and FIXED bursts get error responses and count; no corruption."""
    from cocotbext.axi import AxiBurstType

    args = sim_args()
    rng = random.Random(cocotb.RANDOM_SEED)
    await start_clock_and_reset(dut)
    port = _port(dut, args, rng=rng, stall=0.3)
    watchdog = Watchdog(dut, dut.clk, [port.progress], idle_cycles=5000)
    cocotb.start_soon(watchdog.run())
    capacity, beat = args["capacity"], args["beat"]
    marker = rng.randbytes(beat * 2)
    await port.write(0, marker)
    checks = [
        ("read past the end", port.read(capacity - beat, beat * 2), RESP_DECERR),
        ("write past the end", port.write(capacity, rng.randbytes(beat)), RESP_DECERR),
        ("misaligned read", port.read(8, beat), RESP_SLVERR),
        ("misaligned write", port.write(beat + 8, rng.randbytes(beat)), RESP_SLVERR),
    ]
    for what, op, expected in checks:
        result = await op
        assert result.resp == expected, f"{what}: response {result.resp}, expected {expected}"
    port.progress.started += 1
    fixed = await port.master.read(0, beat * 2, burst=AxiBurstType.FIXED)
    port.progress.count += 1
    assert fixed.resp == RESP_SLVERR, f"FIXED burst answered {fixed.resp}"
    assert bytes((await port.read(0, beat * 2)).data) == marker, "a bad request corrupted data"
    counters = port.counters()
    assert counters["errors"] == len(checks) + 1, f"error counter {counters['errors']}"
    port.assert_timing_clean(min_commands=2)


async def _read_latency(dut, port: TierPort, address: int, beat: int):
    """Cycles from the AR handshake to the first R beat of a one-beat read, and the
    DRAM clock enable of every cycle from the AR handshake on."""
    task = cocotb.start_soon(port.read(address, beat))
    ar_valid, ar_ready, r_valid, r_ready = (getattr(dut, f"{port.name}_{n}") for n in (
        "arvalid", "arready", "rvalid", "rready"))
    dram_enable = port.port("dram_enable")
    ar_cycle = None
    enables = []
    cycle = 0
    while True:
        await RisingEdge(dut.clk)
        await ReadOnly()
        cycle += 1
        if ar_cycle is None and ar_valid.value and ar_ready.value:
            ar_cycle = cycle
        if ar_cycle is not None:
            enables.append(bool(dram_enable.value))
        if ar_cycle is not None and r_valid.value and r_ready.value:
            await task
            return cycle - ar_cycle, enables


def expected_read_latency(enables, dram_cycles: int) -> int:
    """Fabric cycles from the AR handshake (cycle 0 of ``enables``) to the R beat.

    The AR register (1 fabric cycle) holds the request until a DRAM-enabled cycle
    takes it into a channel queue; from then on the queue entry (1), the DRAM itself
    (``dram_cycles``) and the response FIFO (2) count DRAM cycles; the reorder buffer
    adds 1 fabric cycle. With the DRAM clock never skipped this is
    ``dram_cycles + Tier.PIPELINE_CYCLES``.
    """
    accept = next((c for c in range(1, len(enables)) if enables[c]), len(enables))
    remaining = dram_cycles + 3
    for cycle in range(accept + 1, len(enables)):
        remaining -= enables[cycle]
        if remaining == 0:
            return cycle + 1
    return len(enables) + remaining  # the read returned sooner than the formula allows


@cocotb.test()
async def idle_latency(dut):
    """Closed bank, open-row hit and row conflict latencies equal the preset formulas."""
    args = sim_args()
    await start_clock_and_reset(dut)
    port = _port(dut, args)
    beat = args["beat"]
    row_stride = args["row_stride"]
    pipeline = args["pipeline"]
    t = args["timing"]
    await ClockCycles(dut.clk, 20)
    closed = t["tRCD"] + t["CL"] + t["tBL"]
    if args["closed_page"]:  # every access finds its bank precharged
        cases = [("closed bank", 0, closed), ("same row again", 0, closed),
                 ("other row", row_stride, closed)]
    else:
        cases = [("closed bank", 0, closed), ("row hit", 0, t["CL"] + t["tBL"]),
                 ("row conflict", row_stride, t["tRP"] + closed)]
    for what, address, dram in cases:
        await ClockCycles(dut.clk, 100)   # every timer has expired: an idle channel
        measured, enables = await _read_latency(dut, port, address, beat)
        expected = expected_read_latency(enables, dram)
        skipped = enables[:measured].count(False)
        dut._log.info(f"{what}: {measured} cycles, {skipped} of them skipped by the DRAM "
                      f"clock; formula: {dram} DRAM cycles + {pipeline} pipeline -> {expected}")
        assert measured == expected, (
            f"{what}: measured {measured} cycles, formula {dram} DRAM cycles + pipeline "
            f"{pipeline} with the DRAM clock's skipped cycles = {expected}")
        if args["always_enabled"]:
            assert measured == dram + pipeline, (measured, dram, pipeline)
    port.assert_timing_clean(min_commands=5)


@cocotb.test()
async def dram_clock_rate(dut):
    """The tier's DRAM clock ticks on exactly k of every n consecutive fabric cycles."""
    args = sim_args()
    await start_clock_and_reset(dut)
    port = _port(dut, args)
    k, n = args["clock_enable"]
    enables = []
    for _ in range(20 * n):
        await RisingEdge(dut.clk)
        await ReadOnly()
        enables.append(int(port.port("dram_enable").value))
    for start in range(len(enables) - n + 1):
        window = sum(enables[start:start + n])
        assert window == k, f"cycles {start}..{start + n - 1}: {window} DRAM cycles, not {k}"


@pytest.mark.parametrize("tier", list(TIERS))
def test_dram_clock_rate(tier, waves, run_name):
    cfg = TIERS[tier]
    assert TIERS["hbm"].peak_bytes_per_cycle == pytest.approx(
        9 * TIERS["ddr"].peak_bytes_per_cycle)
    simulate(DESIGN, "test_dram_tier", testcase="dram_clock_rate", run_name=run_name,
             seed=1, waves=waves, args=_args(tier, clock_enable=list(cfg.clock_enable)))


@pytest.mark.parametrize("tier", list(TIERS))
@pytest.mark.parametrize("stall", [0.0, 0.4])
def test_random_traffic(tier, stall, seed, waves, run_name):
    simulate(DESIGN, "test_dram_tier", testcase="random_traffic", run_name=run_name,
             seed=seed, waves=waves,
             args=_args(tier, stall=stall, batches=12, per_batch=8, max_beats=24))


@pytest.mark.parametrize("tier", list(TIERS))
def test_bad_requests(tier, waves, run_name):
    simulate(DESIGN, "test_dram_tier", testcase="bad_requests", run_name=run_name,
             seed=1, waves=waves, args=_args(tier))


@pytest.mark.parametrize("tier", list(TIERS))
def test_idle_latency(tier, waves, run_name):
    from memory_ctrl.tier import Tier

    cfg = TIERS[tier]
    p = preset(cfg.preset)
    amap = cfg.address_map
    timing = {"tRCD": p.tRCD, "CL": p.CL, "tBL": p.burst_cycles, "tRP": p.tRP}
    simulate(DESIGN, "test_dram_tier", testcase="idle_latency", run_name=run_name,
             seed=1, waves=waves,
             args=_args(tier, timing=timing, row_stride=1 << amap.offset("row"),
                        pipeline=Tier.PIPELINE_CYCLES, closed_page=cfg.closed_page,
                        always_enabled=cfg.clock_enable[0] == cfg.clock_enable[1]))
