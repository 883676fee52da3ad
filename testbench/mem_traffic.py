"""DRAM tier traffic: cocotb helpers, the ``traffic`` cocotb test, and host functions.

Host side (what ``rdu mem`` / ``rdu bench mem`` call):

* :func:`run_traffic` runs one pattern ("seq_read", "seq_write", "random_read",
  "mix_2to1") of ``size`` bytes on a tier of a design and returns a dict with
  bandwidth (bytes/cycle, % of peak, GB/s at the preset's clock), latency
  distribution, row-hit rate (1 - ACT / column commands) and checker results.
* :func:`run_copy` runs a DDR -> HBM (or back) copy on the memory system design.

cocotb side: :class:`TierPort` wraps a tier's AXI port (cocotbext-axi master with
seeded random stalls) and its observation ports; :meth:`TierPort.assert_timing_clean`
raises :class:`DramTimingViolation` naming rule, commands, cycles and banks.
"""

import random
import time

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from memory_ctrl.timing_rules import Cmd, rule_by_id
from testbench.bfm.axi_pauses import pause_axi_master
from testbench.bfm.clock_reset import CLOCK_PERIOD_NS, start_clock_and_reset
from testbench.bfm.sim_io import save_outputs, sim_args
from testbench.bfm.watchdog import Watchdog

__all__ = ["DramTimingViolation", "TierPort", "AxiProgress", "run_traffic", "run_copy",
           "PATTERNS", "percentiles", "TEST_SYSTEM", "FULL_SYSTEM", "bench_memory"]

PATTERNS = ("seq_read", "seq_write", "random_read", "mix_2to1")


class DramTimingViolation(AssertionError):
    """The passive timing checker of a tier latched a violation."""


class AxiProgress:
    """Lets :class:`Watchdog` watch AXI transactions (started vs. finished)."""

    def __init__(self, name: str):
        self.name = name
        self.count = 0
        self.started = 0

    @property
    def pending(self) -> int:
        return self.started - self.count

    def describe(self) -> str:
        return f"AXI '{self.name}': {self.started} started, {self.count} finished"


class TierPort:
    """A tier's AXI4 slave port (``<axi>_*``) and observation ports (``<obs>chk_*``...)."""

    def __init__(self, dut, axi: str = "s_axi", obs: str = "", rng: random.Random | None = None,
                 stall: float = 0.0, max_burst_len: int = 256):
        from cocotbext.axi import AxiBus, AxiMaster

        self.dut = dut
        self.obs = obs
        self.name = axi
        self.master = AxiMaster(AxiBus.from_prefix(dut, axi), dut.clk, dut.rst,
                                max_burst_len=max_burst_len)
        for handle in (self.master.read_if, self.master.write_if):
            handle.log.setLevel("WARNING")
        pause_axi_master(self.master, rng or random.Random(1), stall)
        self.progress = AxiProgress(axi)

    def port(self, name: str):
        return getattr(self.dut, f"{self.obs}{name}")

    async def read(self, address: int, length: int, size=None):
        self.progress.started += 1
        result = await self.master.read(address, length, size=size)
        self.progress.count += 1
        return result

    async def write(self, address: int, data: bytes, size=None):
        self.progress.started += 1
        result = await self.master.write(address, data, size=size)
        self.progress.count += 1
        return result

    def counters(self) -> dict:
        return {name: int(self.port(name).value) for name in
                ("chk_commands", "refreshes", "acts", "col_cmds", "errors")}

    def assert_timing_clean(self, min_commands: int = 1) -> dict:
        return assert_timing_clean(self.dut, self.obs, self.name, min_commands)


def checker_report(dut, obs: str = "") -> dict:
    """The latched first violation (if any) and command count of a tier's checkers."""
    return {name: int(getattr(dut, f"{obs}chk_{name}").value) for name in (
        "violation", "channel", "rule", "cmd_a", "cmd_b", "cycle_a", "cycle_b", "bank_a",
        "bank_b", "commands")}


def assert_timing_clean(dut, obs: str = "", name: str = "tier", min_commands: int = 1) -> dict:
    """Raise on a latched violation, or if the checker saw fewer than ``min_commands``."""
    report = checker_report(dut, obs)
    if report["violation"]:
        raise DramTimingViolation(describe_violation(report, name))
    if report["commands"] < min_commands:
        raise DramTimingViolation(
            f"{name}: the timing checker saw only {report['commands']} commands "
            f"(expected at least {min_commands}): is it connected?")
    return report


def describe_violation(report: dict, where: str = "tier") -> str:
    rule = rule_by_id(report["rule"])
    cmd_a, cmd_b = Cmd(report["cmd_a"]).name, Cmd(report["cmd_b"]).name
    gap = report["cycle_b"] - report["cycle_a"]
    return (f"DRAM timing violation on {where} channel {report['channel']}: rule {rule.id} "
            f"{rule.name} ({rule.first.name} -> {rule.second.name}, {rule.scope.name}, "
            f"{rule.formula}): {cmd_a} bank {report['bank_a']} at cycle {report['cycle_a']}, "
            f"then {cmd_b} bank {report['bank_b']} at cycle {report['cycle_b']} "
            f"({gap} cycles apart)")


def percentiles(values) -> dict:
    if len(values) == 0:
        return {}
    array = np.asarray(values, dtype=np.float64)
    return {"min": float(array.min()), "p50": float(np.percentile(array, 50)),
            "p90": float(np.percentile(array, 90)), "p99": float(np.percentile(array, 99)),
            "max": float(array.max()), "mean": float(array.mean()), "count": int(array.size)}


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
        raise ValueError(f"unknown traffic pattern {pattern!r}; known: {PATTERNS}")
    for task in tasks:
        await task
    cycles = _cycle() - start
    after = port.counters()
    await ClockCycles(dut.clk, 10)
    port.assert_timing_clean(min_commands=1)
    save_outputs(cycles=np.array(cycles), latencies=np.array(latencies, dtype=np.int64),
                 **{k: np.array(after[k] - before[k]) for k in after},
                 beat=np.array(beat))


def run_traffic(design, *, pattern: str, size: int, seed: int = 1, axi: str = "s_axi",
                obs: str = "", peak_bytes_per_cycle: float, capacity: int, beat_bytes: int,
                tck_ns: float = 1.0, stall: float = 0.0, access: int = 64,
                run_name: str | None = None, waves: bool = False) -> dict:
    """Run one pattern on one tier of ``design``; return figures as a dict.

    ``peak_bytes_per_cycle`` and ``tck_ns`` are per fabric cycle (``TierConfig.
    peak_bytes_per_cycle`` and ``TierConfig.cycle_ns``), so GB/s is at the DRAM's clock.
    """
    from testbench.sim.runner import simulate

    if pattern not in PATTERNS:
        raise ValueError(f"unknown traffic pattern {pattern!r}; known: {PATTERNS}")
    wall = time.monotonic()
    result = simulate(design, "testbench.mem_traffic", testcase="traffic",
                      run_name=run_name or f"mem_{axi}_{pattern}_{size}", seed=seed, waves=waves,
                      args={"pattern": pattern, "size": size, "axi": axi, "obs": obs,
                            "beat_bytes": beat_bytes, "capacity": capacity, "stall": stall,
                            "access": access})
    out = result.outputs
    cycles = int(out["cycles"])
    moved = size if pattern != "random_read" else (size // access) * access
    rate = moved / cycles
    col = int(out["col_cmds"])
    return {
        "pattern": pattern, "bytes": moved, "cycles": cycles,
        "bytes_per_cycle": rate, "percent_of_peak": 100.0 * rate / peak_bytes_per_cycle,
        "gbytes_per_s": rate / tck_ns,
        "latency_cycles": percentiles(out["latencies"]),
        "row_hit_rate": (1.0 - int(out["acts"]) / col) if col else None,
        "column_commands": col, "activates": int(out["acts"]),
        "refreshes": int(out["refreshes"]), "timing_violations": 0,
        "checked_commands": int(out["chk_commands"]), "wall_seconds": time.monotonic() - wall,
    }


async def preload(dut, prefix: str, config, image, base: int = 0) -> int:
    """Backdoor-write ``image`` at ``base`` of tier ``prefix`` ("hbm"/"ddr"); returns cycles."""
    from testbench.golden.dram import backdoor_words

    indices, words = backdoor_words(config, image, base, fill=None)
    en, index, data = (getattr(dut, f"{prefix}_pl_{n}") for n in ("en", "index", "data"))
    partial = _partial_indices(config, base, len(image))
    if partial:
        # indices the image only partly covers keep their other atoms: read them first
        current = await dump(dut, prefix, config, indices)
        indices, words = backdoor_words(config, image, base, fill=_scatter(config, indices,
                                                                            current))
    for i, word in zip(indices.tolist(), words, strict=True):
        await RisingEdge(dut.clk)
        en.value = 1
        index.value = i
        data.value = int.from_bytes(word.tobytes(), "little")
    await RisingEdge(dut.clk)
    en.value = 0
    return len(indices) + 1


def _partial_indices(config, base: int, length: int) -> bool:
    """Whether the region shares device words with bytes outside it (then read-modify-write)."""
    stripe = config.capacity // config.dram.rows  # one row of every bank of every channel
    return bool(base % stripe or length % stripe)


def _scatter(config, indices, words):
    from testbench.golden.dram import word_count

    full = np.zeros((word_count(config), words.shape[1]), np.uint8)
    full[indices] = words
    return full


async def dump(dut, prefix: str, config, indices) -> np.ndarray:
    """Backdoor-read the given device indices of tier ``prefix``: (n, word bytes) uint8."""
    p = config.dram
    width = config.channels * p.banks * p.atom_bytes
    index, data = getattr(dut, f"{prefix}_dbg_index"), getattr(dut, f"{prefix}_dbg_rdata")
    out = np.zeros((len(indices), width), np.uint8)
    for row, i in enumerate(list(indices)):
        await RisingEdge(dut.clk)
        index.value = int(i)
        await RisingEdge(dut.clk)
        await ReadOnly()
        out[row] = np.frombuffer(int(data.value).to_bytes(width, "little"), np.uint8)
    await RisingEdge(dut.clk)
    return out


def memory_system_design(**params):
    """The memory-system ``Design`` (both tiers and the copy engines)."""
    from testbench.sim.build_cache import Design

    # -O0: at -O2 its C++ took 185 s to compile; the traffic tests simulate for less.
    return Design("memory_system", "memory_ctrl.system:make_memory_system", params,
                  profile="quick")


def _descriptor(src: int, dst: int, length: int, to_ddr: bool) -> int:
    from memory_ctrl.tier import ADDR_WIDTH

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
    from memory_ctrl.system import tier_configs
    from testbench.golden.dram import image_from_words

    args = sim_args()
    rng = random.Random(cocotb.RANDOM_SEED)
    configs = tier_configs(args.get("hbm"), args.get("ddr"))
    await start_clock_and_reset(dut)
    size, src, dst = args["size"], args["src"], args["dst"]
    image = rng.randbytes(size)
    wall = time.monotonic()
    preload_cycles = await preload(dut, "ddr", configs["ddr"], image, src)
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
        words = _scatter(configs[tier], used, await dump(dut, tier, configs[tier], used))
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


def run_copy(*, size: int = 8 << 20, hbm: dict | None = None, ddr: dict | None = None,
             back: bool = False, verify: bool = True, seed: int = 1,
             run_name: str | None = None, waves: bool = False) -> dict:
    """DDR -> HBM copy of ``size`` bytes on a memory system sized to hold it.

    Returns cycles, bytes/cycle, % of the DDR tier's peak (per fabric cycle), the
    implied model-switch time at the DDR preset's clock, and preload / copy wall times.
    """
    from memory_ctrl.system import tier_configs
    from testbench.sim.runner import simulate

    configs = tier_configs(hbm, ddr)
    for name, cfg in configs.items():
        if cfg.capacity < size * (2 if back and name == "ddr" else 1):
            raise ValueError(f"{name} tier ({cfg.capacity} B) cannot hold a {size} B copy")
    design = memory_system_design(**{k: v for k, v in (("hbm", hbm), ("ddr", ddr)) if v})
    wall = time.monotonic()
    result = simulate(design, "testbench.mem_traffic", testcase="copy",
                      run_name=run_name or f"mem_copy_{size}", seed=seed, waves=waves,
                      args={"size": size, "src": 0, "dst": 0, "hbm": hbm, "ddr": ddr,
                            "back": size if back else 0, "verify": verify})
    out = {k: v.item() for k, v in result.outputs.items()}
    ddr_cfg = configs["ddr"]
    peak = ddr_cfg.peak_bytes_per_cycle
    cycles = out["to_hbm_cycles"]
    figures = {
        "bytes": size, "cycles": cycles, "bytes_per_cycle": size / cycles,
        "ddr_peak_bytes_per_cycle": peak,
        "percent_of_ddr_peak": 100.0 * size / cycles / peak,
        "ideal_cycles": size / peak,
        "switch_time_us_at_ddr_clock": cycles * ddr_cfg.cycle_ns / 1000.0,
        "ideal_switch_time_us": size / peak * ddr_cfg.cycle_ns / 1000.0,
        "preload_cycles": out["preload_cycles"], "preload_seconds": out["preload_seconds"],
        "preload_mbytes_per_s": size / 1e6 / max(out["preload_seconds"], 1e-9),
        "copy_seconds": out["copy_seconds"], "wall_seconds": time.monotonic() - wall,
    }
    if "to_ddr_cycles" in out:
        figures["back_cycles"] = out["to_ddr_cycles"]
    return figures


#: The memory system the tests and the bench use (one Verilator build): 2 HBM2 channels
#: (8 MiB, 64 B per cycle) and 1 DDR4-3200 channel (192 MiB = 24 x HBM) whose clock ticks
#: on 4 of 9 fabric cycles (16 x 4/9 = 7.1 B per cycle: HBM has 9x the peak bandwidth).
#: The factory defaults (:data:`FULL_SYSTEM`) have 4 HBM channels and the DDR at 8/9.
TEST_SYSTEM = {"hbm": {"channels": 2, "rows": 256}, "ddr": {"rows": 1536, "clock_enable": [4, 9]}}

#: The factory defaults of ``make_memory_system``: 4 HBM2 channels (512 KiB), DDR 12 MiB.
FULL_SYSTEM: dict = {}


def bench_memory(*, patterns=PATTERNS, tiers=("hbm", "ddr"), size: int = 1 << 20,
                 copy_size: int = 8 << 20, seed: int = 1, system: dict | None = None) -> dict:
    """Everything ``rdu bench mem`` reports: each pattern on each tier, then the big copy."""
    from memory_ctrl.system import bandwidth_ratio, capacity_ratio, tier_configs

    system = TEST_SYSTEM if system is None else system
    configs = tier_configs(**system)
    results = {}
    for tier in tiers:
        cfg = configs[tier]
        for pattern in patterns:
            amount = size // 16 if pattern == "random_read" else size
            results[f"{tier}/{pattern}"] = run_traffic(
                memory_system_design(**system), pattern=pattern, size=amount, seed=seed,
                axi=f"s_axi_{tier}", obs=f"{tier}_", peak_bytes_per_cycle=cfg.peak_bytes_per_cycle,
                capacity=cfg.capacity, beat_bytes=cfg.data_bytes, tck_ns=cfg.cycle_ns,
                run_name=f"bench_mem_{tier}_{pattern}")
    if "seq_read" in patterns and set(tiers) >= {"hbm", "ddr"}:
        hbm, ddr = results["hbm/seq_read"], results["ddr/seq_read"]
        results["hbm_to_ddr"] = {
            "peak_bandwidth_ratio": bandwidth_ratio(configs),
            "seq_read_bandwidth_ratio": hbm["bytes_per_cycle"] / ddr["bytes_per_cycle"],
            "hbm_seq_read_percent_of_peak": hbm["percent_of_peak"],
            "ddr_seq_read_percent_of_peak": ddr["percent_of_peak"],
            "ddr_clock_enable": list(configs["ddr"].clock_enable),
            "capacity_ratio_ddr_to_hbm": capacity_ratio(configs)}
    if copy_size:
        results["copy_ddr_to_hbm"] = run_copy(size=copy_size, seed=seed,
                                              run_name=f"bench_mem_copy_{copy_size}", **system)
    return results
