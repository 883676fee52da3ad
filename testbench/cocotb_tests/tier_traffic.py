"""DRAM tier traffic inside the simulator: the ``traffic`` and ``copy`` cocotb tests.

Started by :func:`testbench.cli.mem_traffic.run_traffic` (one pattern on one tier:
saves bytes, cycles, latencies and the tier's counters) and
:func:`testbench.cli.mem_traffic.run_copy` (backdoor-preloads DDR, runs the copy
engine DDR -> HBM and optionally back, verifies through the backdoor). Both fail
on any violation latched by the tiers' timing checkers.
"""

import random
import time

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles

from testbench.bfm.clock_reset import CLOCK_PERIOD_NS, start_clock_and_reset
from testbench.bfm.dram_tier import TierPort, assert_timing_clean
from testbench.bfm.sim_io import save_outputs, sim_args
from testbench.bfm.tier_backdoor import TierBackdoor
from testbench.bfm.watchdog import Watchdog


def _cycle() -> int:
    from cocotb.utils import get_sim_time

    return int(get_sim_time("ns")) // CLOCK_PERIOD_NS


async def _timed(port: TierPort, op, latencies: list):
    start = _cycle()
    result = await op
    latencies.append(_cycle() - start)
    return result


@cocotb.test()
async def traffic(dut):
    """One traffic pattern on one tier; saves bytes, cycles, latencies and counters."""
    args = sim_args()
    rng = random.Random(cocotb.RANDOM_SEED)
    await start_clock_and_reset(dut)
    port = TierPort(dut, args.get("axi", "s_axi"), args.get("obs", ""), rng,
                    args.get("stall", 0.0))
    watchdog = Watchdog(dut, dut.clk, [port.progress], idle_cycles=20000)
    cocotb.start_soon(watchdog.run())
    pattern, size, beat = args["pattern"], args["size"], args["beat_bytes"]
    capacity = args["capacity"]
    await ClockCycles(dut.clk, args.get("warmup", 10))
    before = port.counters()
    latencies = []
    tasks = []
    chunk = args.get("chunk", 4096)
    start = _cycle()
    if pattern == "seq_read":
        for offset in range(0, size, chunk):
            tasks.append(cocotb.start_soon(_timed(port, port.read(offset % capacity, chunk),
                                                  latencies)))
    elif pattern == "seq_write":
        payload = rng.randbytes(chunk)
        for offset in range(0, size, chunk):
            tasks.append(cocotb.start_soon(_timed(port, port.write(offset % capacity, payload),
                                                  latencies)))
    elif pattern == "random_read":
        access = args.get("access", 64)
        size_code = (access - 1).bit_length()
        for _ in range(size // access):
            address = rng.randrange(capacity // access) * access
            tasks.append(cocotb.start_soon(_timed(port, port.read(address, access,
                                                                  size=size_code), latencies)))
    elif pattern == "mix_2to1":
        payload = rng.randbytes(chunk)
        half = capacity // 2
        offsets = list(range(0, size, chunk))
        for index, offset in enumerate(offsets):
            if index % 3 == 2:
                op = port.write(half + offset % half, payload)
            else:
                op = port.read(offset % half, chunk)
            tasks.append(cocotb.start_soon(_timed(port, op, latencies)))
    else:
        raise ValueError(f"unknown traffic pattern {pattern!r} (run_traffic checks it first)")
    for task in tasks:
        await task
    cycles = _cycle() - start
    after = port.counters()
    await ClockCycles(dut.clk, 10)
    port.assert_timing_clean(min_commands=1)
    save_outputs(cycles=np.array(cycles), latencies=np.array(latencies, dtype=np.int64),
                 **{k: np.array(after[k] - before[k]) for k in after},
                 beat=np.array(beat))


def _scatter(config, indices, words):
    from testbench.golden.dram import word_count

    full = np.zeros((word_count(config), words.shape[1]), np.uint8)
    full[indices] = words
    return full


def _descriptor(src: int, dst: int, length: int, to_ddr: bool) -> int:
    from memory_ctrl.tier_params import ADDR_WIDTH

    return src | (dst << ADDR_WIDTH) | (length << 2 * ADDR_WIDTH) | (int(to_ddr) << 3 * ADDR_WIDTH)


async def _run_copy(dut, source, src: int, dst: int, length: int, to_ddr: bool) -> int:
    from testbench.bfm.watchdog import WatchdogTimeout

    done_before = int(dut.copy_copies.value)
    source.send([_descriptor(src, dst, length, to_ddr)])
    # a polling watchdog: Python looks at the design every 256 cycles, not every cycle
    limit, waited = 8 * length // 16 + 20000, 0
    while int(dut.copy_copies.value) == done_before:
        await ClockCycles(dut.clk, 256)
        waited += 256
        if waited > limit:
            raise WatchdogTimeout(
                f"copy engine: {length} B copy not done after {waited} cycles (busy="
                f"{int(dut.copy_busy.value)}, descriptor stream: {source.describe()}, HBM "
                f"checker commands {int(dut.hbm_chk_commands.value)}, DDR "
                f"{int(dut.ddr_chk_commands.value)})")
    port = dut.copy_to_ddr_cycles if to_ddr else dut.copy_to_hbm_cycles
    return int(port.value)


@cocotb.test()
async def copy(dut):
    """Preload DDR through the backdoor, copy DDR -> HBM (and optionally back), verify."""
    from memory_ctrl.tier_params import tier_configs
    from testbench.golden.dram import image_from_words

    args = sim_args()
    rng = random.Random(cocotb.RANDOM_SEED)
    configs = tier_configs(args.get("hbm"), args.get("ddr"))
    await start_clock_and_reset(dut)
    size, src, dst = args["size"], args["src"], args["dst"]
    image = rng.randbytes(size)
    wall = time.monotonic()
    backdoors = {tier: TierBackdoor(dut, f"{tier}_", configs[tier]) for tier in configs}
    preload_cycles = await backdoors["ddr"].preload([(src, image)])
    preload_seconds = time.monotonic() - wall
    from testbench.bfm.stream import StreamSource

    # one driver of the descriptor stream for the whole test
    source = StreamSource(dut, "copy", dut.clk, random.Random(rng.getrandbits(32)), 0.5)
    wall = time.monotonic()
    cycles = await _run_copy(dut, source, src, dst, size, False)
    copy_seconds = time.monotonic() - wall
    outputs = {"to_hbm_cycles": cycles, "preload_cycles": preload_cycles,
               "preload_seconds": preload_seconds, "copy_seconds": copy_seconds}

    async def verify(tier, base, expected):
        from testbench.golden.dram import _layout

        index, _, _ = _layout(configs[tier], base, len(expected))
        used = np.unique(index)
        words = _scatter(configs[tier], used, await backdoors[tier].read_words(used))
        got = image_from_words(configs[tier], words, base, len(expected))
        if got != expected:
            bad = next(i for i in range(len(got)) if got[i] != expected[i])
            raise AssertionError(f"{tier} [{base:#x}+{len(expected):#x}]: first wrong byte at "
                                 f"offset {bad:#x}: {got[bad]:#04x}, expected {expected[bad]:#04x}")

    if args.get("verify", True):
        await verify("hbm", dst, image)
    if args.get("back"):
        back = args["back"]
        outputs["to_ddr_cycles"] = await _run_copy(dut, source, dst, back, size, True)
        if args.get("verify", True):
            await verify("ddr", back, image)
    # a bad descriptor (misaligned) is refused and counted
    errors_before = int(dut.copy_errors.value)
    if args.get("bad_descriptor", True):
        source.send([_descriptor(src + 64, dst, 4096, False)])
        await ClockCycles(dut.clk, 50)
        assert int(dut.copy_errors.value) == errors_before + 1, "misaligned descriptor accepted"
    assert int(dut.copy_errors.value) == errors_before + int(args.get("bad_descriptor", True)), \
        f"copy engine counted {int(dut.copy_errors.value)} errors"
    for tier in ("hbm", "ddr"):
        assert_timing_clean(dut, f"{tier}_", tier, min_commands=1)
    save_outputs(**{k: np.array(v) for k, v in outputs.items()})
