"""Simulation speed of one GEMM schedule on several RDU presets, every path side by side.

The GEMM (``GEMM_SHAPE``, bf16 inputs, fp32 out, random inputs of seed 1) is
compiled for each preset of ``BENCH_PRESETS`` and run hardware-orchestrated: one
SCHEDULE command whose entries load each kernel's program and arguments and
execute it, so ``busy`` is high from the doorbell to the end of the last kernel.
That window is what is timed, in simulated cycles and wall-clock seconds, in each of:

* ``bare_cpp``: the Verilated RDU top (the "fast" build profile,
  testbench/sim/build_profile.py) driven by a C++ ``main`` with no Python at all
  (testbench/sim/bare_harness.cpp): the speed limit of this model, and the
  reference of the ratios.
* ``cocotb``: the same build under cocotb as the project runs a host program
  (testbench/cocotb_tests/simspeed_gemm.py, ``runtime_schedule``): the Runtime's
  cocotbext-axi masters, its sleep on ``busy``, the clock in the simulator.
* ``cocotb_O0``: the same testbench on the one-file ``-O0`` build (the "quick"
  profile) the RDU tops used before: what the optimised build gains.
* ``cocotb_quiet`` (preset ``small`` only): Python off the per-cycle path: the
  host writes everything first, rings the doorbell, then awaits only ``busy``'s
  two edges (``quiet_schedule``), with cocotb's C++ (GPI) clock.
  ``cocotb_quiet_pyclock``: the same with cocotb's Python clock coroutine, to show
  what the clock alone costs.
* ``amaranth`` (preset ``small`` only): Amaranth's own simulator on the same
  ``RDUTop`` elaboration, driven by testbench/bfm/amaranth_axi.py with the same
  memory contents and commands.

Each path reads the result back and checks it bit for bit against the golden
model; ``busy_cycles`` and ``kernel_cycles`` (the AGCU's count of its last kernel)
must be equal in every path (same RTL, same memory contents, nothing else on the
device memory during the window). Speeds are ``busy_cycles / wall_seconds``;
ratios (``speed_vs_bare``) are against ``bare_cpp``. The rest of each path
(Verilator build check and process start, or elaboration and Amaranth's simulator
compile; preload and read-back) is reported apart as ``rest_seconds`` and is not in
the speeds. With ``build_times``, each preset's fast build is also timed three
ways in scratch directories: cold (empty ccache), ccache-warm (a new build
directory, the objects in ccache) and cached (the build found complete).
"""

import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from hdl.agcu.commands import Command
from hdl.rdu.config import RDUParams, rdu_params
from testbench.compiler import compile_graph, evaluate
from testbench.compiler.execute import stage_buffers
from testbench.compiler.graph import BF16
from testbench.compiler.layout import padded_cols, unpack
from testbench.compiler.library import kernel_graph, random_inputs
from testbench.runtime import host_registers as reg
from testbench.runtime.host_script import HostScript, rdu_design
from testbench.runtime.memory_map import DeviceMemory, command_region

__all__ = ["GEMM_SHAPE", "GemmSchedule", "PathResult", "gemm_schedule", "run_amaranth",
           "run_bare_path", "run_bench", "run_cocotb", "measure"]

GEMM_SHAPE = (32, 32, 32)   # m, k, n
PATHS = ("bare_cpp", "cocotb", "cocotb_O0", "cocotb_quiet", "cocotb_quiet_pyclock", "amaranth")
#: the paths every preset runs; preset "small" runs all of PATHS
CORE_PATHS = ("bare_cpp", "cocotb", "cocotb_O0")
BENCH_PRESETS = {"small": {}, "coe": {}, "tile2x2": {}, "tile4x4": {}}
_TESTCASES = {"cocotb": "runtime_schedule", "cocotb_O0": "runtime_schedule",
              "cocotb_quiet": "quiet_schedule", "cocotb_quiet_pyclock": "quiet_schedule"}
_TEST_MODULE = "testbench.cocotb_tests.simspeed_gemm"
_CLOCK_PERIOD_S = 10e-9


@dataclass
class GemmSchedule:
    """One GEMM compiled for ``config`` and laid out in device memory as the Runtime
    lays out a hardware-orchestrated run (tensors, then every new program image, then
    every entry's argument block, then the schedule table, in the command region)."""

    config: RDUParams
    shape: tuple
    launches: int
    golden: np.ndarray
    out_shape: tuple
    out_dtype: type
    tensor_writes: list        # [(address, array)] the host writes before the run
    kernels: list              # [(ProgramImage, argument words)] in schedule order
    command_writes: list       # [(address, uint32 words)]: images, arguments, table
    table: tuple               # (address, entries) of the SCHEDULE command
    out: tuple                 # (address, words) of the result buffer

    def logical_out(self, words: np.ndarray) -> np.ndarray:
        out = unpack(words, self.out_shape, self.config.lanes)
        return out.astype(np.uint16) if self.out_dtype == BF16 else out


def gemm_schedule(config: RDUParams, m: int, k: int, n: int, seed: int = 1) -> GemmSchedule:
    graph = kernel_graph("gemm", m=m, k=k, n=n)
    compiled = compile_graph(graph, config, "fused")
    inputs = random_inputs(graph, np.random.default_rng(seed))
    golden = evaluate(graph, inputs, config.lanes, config.pmu_depth)["out"]
    script = HostScript(config)
    addresses = stage_buffers(compiled, script, inputs)
    tensor_writes = [(step.address, script.arrays[step.array]) for step in script.steps]
    kernels = [(kernel.image, kernel.arguments(addresses, compiled.beat_bytes))
               for kernel in compiled.kernels]
    base, size = command_region(config.memory_bytes)
    region = DeviceMemory(size, config.vector_bits // 8, base)
    command_writes, programs, table = [], {}, []

    def place(words) -> int:
        words = np.asarray(list(words), "<u4")
        address = region.allocate(words.nbytes, "command words")
        command_writes.append((address, words))
        return address

    for image, _ in kernels:  # as Runtime.run_schedule: programs first, then arguments
        if image not in programs:
            programs[image] = place(image.words)
    for image, arguments in kernels:
        table += [programs[image], len(image.words), place(arguments), len(arguments)]
    info = compiled.infos["out"]
    return GemmSchedule(config, (m, k, n), len(kernels), golden, info.shape, info.dtype,
                        tensor_writes, kernels, command_writes, (place(table), len(kernels)),
                        (addresses["out"], info.shape[0] * padded_cols(info.shape[1],
                                                                        config.lanes)))


@dataclass
class PathResult:
    """What one simulator path measured over the ``busy`` window."""

    path: str
    busy_cycles: int
    kernel_cycles: int
    wall_seconds: float
    rest_seconds: float        # the rest of the path: build check or elaboration, process
                               # start, preload and read-back (not in the speed)
    out: np.ndarray
    bit_exact: bool
    python_calls: int = -1     # Python function calls in the window (-1: not counted)

    @property
    def cycles_per_second(self) -> float:
        return self.busy_cycles / self.wall_seconds

    def to_json(self) -> dict:
        return {"path": self.path, "busy_cycles": self.busy_cycles,
                "kernel_cycles": self.kernel_cycles, "wall_seconds": self.wall_seconds,
                "cycles_per_second": self.cycles_per_second,
                "rest_seconds": self.rest_seconds, "bit_exact": self.bit_exact,
                "python_calls": self.python_calls}


def _result(schedule: GemmSchedule, path: str, words, busy_cycles, kernel_cycles, seconds,
            rest) -> PathResult:
    out = schedule.logical_out(words)
    return PathResult(path, int(busy_cycles), int(kernel_cycles), float(seconds), rest, out,
                      bool(np.array_equal(out, schedule.golden)))


def run_cocotb(schedule: GemmSchedule, path: str, *, run_name: str, seed: int = 1,
               timeout_cycles: int = 200_000, host_stall: float = 0.0) -> PathResult:
    """``path`` (one of ``PATHS`` but "amaranth") on the project's Verilator build;
    ``host_stall`` (path "cocotb" only): probability that each of the Runtime's AXI
    channels pauses in a cycle (seeded by ``seed``)."""
    from testbench.sim.runner import simulate

    if host_stall and path not in ("cocotb", "cocotb_O0"):
        raise ValueError(f"host_stall applies to the Runtime path only, not {path!r}")
    arrays, args = {}, {"config": schedule.config.to_json(), "timeout_cycles": timeout_cycles,
                        "reads": [["out", *schedule.out]], "host_stall": host_stall}

    def key(array) -> str:
        name = f"x{len(arrays)}"
        arrays[name] = np.ascontiguousarray(array)
        return name

    writes = [[address, key(array)] for address, array in schedule.tensor_writes]
    if _TESTCASES[path] == "runtime_schedule":
        args["writes"] = writes
        args["schedule"] = [[key(np.frombuffer(image.to_bytes(), np.uint8)),
                             key(np.asarray(arguments, np.uint32))]
                            for image, arguments in schedule.kernels]
    else:
        args["clock"] = "gpi" if path == "cocotb_quiet" else "py"
        # the profile hook costs time per Python call: only where there are almost none
        args["count_calls"] = path == "cocotb_quiet"
        args["preload"] = writes + [[address, key(words)]
                                    for address, words in schedule.command_writes]
        args["table"] = list(schedule.table)
    design = rdu_design(schedule.config)
    if path == "cocotb_O0":
        design = replace(design, profile="quick")
    start = time.perf_counter()
    result = simulate(design, _TEST_MODULE, run_name=run_name, seed=seed,
                      args=args, inputs=arrays, testcase=_TESTCASES[path]).outputs
    seconds = float(result["wall_seconds"][0])
    row = _result(schedule, path, result["out"], result["busy_cycles"][0],
                  result["kernel_cycles"][0], seconds, time.perf_counter() - start - seconds)
    row.python_calls = int(result["python_calls"][0])
    return row


def run_bare_path(schedule: GemmSchedule, *, timeout_cycles: int = 200_000) -> PathResult:
    """The same run on the Verilated top under the bare C++ harness: the preload and
    SCHEDULE command of ``run_amaranth``, the busy window timed in C++."""
    from testbench.sim.bare_harness import run_bare

    start = time.perf_counter()
    table, entries = schedule.table
    result = run_bare(rdu_design(schedule.config),
                      schedule.tensor_writes + schedule.command_writes,
                      [(reg.CMD_OP, int(Command.SCHEDULE)), (reg.CMD_ADDR, table),
                       (reg.CMD_LENGTH, entries), (reg.DOORBELL, 1)],
                      [schedule.out], timeout_cycles,
                      query=(reg.STATUS, reg.KERNEL_CYCLES))
    status = result.registers[reg.STATUS]
    assert not status & (reg.STATUS_BUSY | reg.STATUS_ERROR), f"status {status:#x}"
    seconds = result.wall_seconds
    return _result(schedule, "bare_cpp", result.reads[0], result.busy_cycles,
                   result.registers[reg.KERNEL_CYCLES], seconds,
                   time.perf_counter() - start - seconds)


def run_amaranth(schedule: GemmSchedule, *, timeout_cycles: int = 200_000) -> PathResult:
    """The same run under ``amaranth.sim.Simulator`` on ``make_rdu(**rdu_design(..).params)``."""
    from amaranth.sim import Simulator

    from testbench.bfm.amaranth_axi import AmaranthAxiHost

    start = time.perf_counter()
    top = rdu_design(schedule.config).elaborate()
    sim = Simulator(top)
    sim.add_clock(_CLOCK_PERIOD_S)
    host = AmaranthAxiHost(top, beat_bytes=schedule.config.vector_bits // 8)
    seen = {}

    async def watch_busy(ctx):
        """Count the cycles ``busy`` is sampled high, from its first rise to its fall."""
        cycles = 0
        async for _, _, busy in ctx.tick().sample(top.busy):
            if busy:
                if not cycles:
                    seen["wall_start"] = time.perf_counter()
                cycles += 1
            elif cycles:
                seen["wall_end"], seen["busy_cycles"] = time.perf_counter(), cycles
                return
            if cycles > timeout_cycles:
                raise AssertionError(f"busy still high after {timeout_cycles} cycles")

    async def host_program(ctx):
        for address, array in schedule.tensor_writes + schedule.command_writes:
            await host.write_memory(ctx, address, np.ascontiguousarray(array).tobytes())
        table, entries = schedule.table
        for offset, value in ((reg.CMD_OP, int(Command.SCHEDULE)), (reg.CMD_ADDR, table),
                              (reg.CMD_LENGTH, entries), (reg.DOORBELL, 1)):
            await host.write_register(ctx, offset, value)
        await ctx.tick().until(~top.busy)
        status = await host.read_register(ctx, reg.STATUS)
        assert not status & (reg.STATUS_BUSY | reg.STATUS_ERROR), f"status {status:#x}"
        assert "busy_cycles" in seen, "the busy watcher did not see the schedule end"
        seen["kernel_cycles"] = await host.read_register(ctx, reg.KERNEL_CYCLES)
        address, words = schedule.out
        seen["out"] = np.frombuffer(await host.read_memory(ctx, address, 4 * words), "<u4")

    sim.add_testbench(watch_busy)
    sim.add_testbench(host_program)
    sim.run()
    seconds = seen["wall_end"] - seen["wall_start"]
    return _result(schedule, "amaranth", seen["out"], seen["busy_cycles"],
                   seen["kernel_cycles"], seconds, time.perf_counter() - start - seconds)


def measure(shape=GEMM_SHAPE, *, preset: str = "small", paths=None, log=print,
            run_prefix: str = "bench_simspeed", seed: int = 1,
            host_stall: float = 0.0) -> dict:
    """``paths`` (default: all of ``PATHS`` on preset "small", ``CORE_PATHS`` elsewhere) on
    one GEMM (inputs and stalls from ``seed``; ``host_stall`` for the Runtime paths): the
    rows, the ratios, whether cycles agree and results match."""
    config = rdu_params(preset, **BENCH_PRESETS.get(preset, {}))
    paths = paths or (PATHS if preset == "small" else CORE_PATHS)
    schedule = gemm_schedule(config, *shape, seed=seed)
    rows = []
    for path in paths:
        log(f"simspeed: {preset}, GEMM {'x'.join(map(str, shape))}, {path}")
        if path == "bare_cpp":
            rows.append(run_bare_path(schedule))
        elif path == "amaranth":
            rows.append(run_amaranth(schedule))
        else:
            stall = host_stall if _TESTCASES[path] == "runtime_schedule" else 0.0
            rows.append(run_cocotb(schedule, path, run_name=f"{run_prefix}_{preset}_{path}",
                                   seed=seed, host_stall=stall))
    base = rows[0].cycles_per_second
    speed = {r.path: r.cycles_per_second for r in rows}
    data = {"shape": list(shape), "preset": preset, "launches": schedule.launches,
            "paths": [dict(r.to_json(), speed_vs_bare=r.cycles_per_second / base)
                      for r in rows],
            "cycles_agree": _cycles_agree(config, rows),
            "bit_exact": all(r.bit_exact for r in rows)}
    if "cocotb_quiet" in speed and "amaranth" in speed:
        data["quiet_vs_amaranth"] = speed["cocotb_quiet"] / speed["amaranth"]
    if "cocotb" in speed and "cocotb_O0" in speed:
        data["fast_vs_O0"] = speed["cocotb"] / speed["cocotb_O0"]
    if "cocotb" in speed and "bare_cpp" in speed:
        data["cocotb_vs_bare"] = speed["cocotb"] / speed["bare_cpp"]
    return data


def _cycles_agree(config: RDUParams, rows) -> bool:
    """The same window in every path. With memory tiers only the paths that share the host
    code (the cocotb ones) must agree: the DRAM's refresh phase when the doorbell rings
    depends on how many cycles the host's preload took, which differs in the C++ harness."""
    if config.memory == "tiers":
        rows = [row for row in rows if row.path.startswith("cocotb")]
    return len({(row.busy_cycles, row.kernel_cycles) for row in rows}) <= 1


def build_seconds(preset: str, log=print) -> dict:
    """Seconds to build ``preset``'s fast RDU top three ways, in scratch directories (the
    Verilog copied from the project's cache): ``cold`` (empty ccache), ``ccache_warm`` (a
    fresh build directory, the objects in ccache), ``cached`` (the build found complete)."""
    import os

    from testbench.sim.build_cache import build_model, verilog_for

    design = rdu_design(rdu_params(preset, **BENCH_PRESETS.get(preset, {})))
    verilog, _ = verilog_for(design)
    saved = os.environ.get("RDU_CCACHE_DIR")
    times = {}
    with tempfile.TemporaryDirectory(prefix="rdu-bench-") as scratch:
        os.environ["RDU_CCACHE_DIR"] = str(Path(scratch, "ccache"))
        try:
            for label, root in (("cold", "a"), ("ccache_warm", "b"), ("cached", "b")):
                log(f"simspeed: {preset} build, {label}")
                target = Path(scratch, root, "verilog")
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy(verilog, target / verilog.name)
                start = time.perf_counter()
                built = build_model(design, root=Path(scratch, root), log=lambda _: None)
                times[label] = time.perf_counter() - start
                assert built.rebuilt == (label != "cached"), (label, built.rebuilt)
        finally:
            if saved is None:
                os.environ.pop("RDU_CCACHE_DIR", None)
            else:
                os.environ["RDU_CCACHE_DIR"] = saved
    return times


_LABELS = {"bare_cpp": "bare C++ harness (no Python)", "cocotb": "cocotb + Runtime (as run)",
           "cocotb_O0": "  same, -O0 one-file build",
           "cocotb_quiet": "cocotb, Python off path",
           "cocotb_quiet_pyclock": "  same, Python clock", "amaranth": "Amaranth simulator"}


def _preset_lines(data: dict) -> list[str]:
    m, k, n = data["shape"]
    lines = [f"{data['preset']}: GEMM {m}x{k}x{n} (bf16 in, fp32 out), {data['launches']} "
             f"kernel(s) in one hardware-orchestrated schedule; window = busy high",
             "  path                          cycles  kernel cyc  window s   cycles/s     x bare"
             "   rest s  exact"]
    for row in data["paths"]:
        lines.append(f"  {_LABELS[row['path']]:28} {row['busy_cycles']:7} "
                     f"{row['kernel_cycles']:11} {row['wall_seconds']:9.3f} "
                     f"{row['cycles_per_second']:10.0f} {row['speed_vs_bare']:10.3g} "
                     f"{row['rest_seconds']:8.1f}  {'ok' if row['bit_exact'] else 'FAIL'}")
    notes = [f"cycle counts {'agree' if data['cycles_agree'] else 'DIFFER'} across the "
             f"{'cocotb ' if data['preset'] == 'coe' else ''}paths"]
    if "fast_vs_O0" in data:
        notes.append(f"fast build {data['fast_vs_O0']:.1f}x the -O0 build under cocotb")
    if "quiet_vs_amaranth" in data:
        notes.append(f"cocotb quiet {data['quiet_vs_amaranth']:.1f}x Amaranth")
    quiet = [row for row in data["paths"] if row["path"] == "cocotb_quiet"]
    if quiet:
        notes.append(f"Python calls in the quiet window: {quiet[0]['python_calls']}")
    if "build_seconds" in data:
        b = data["build_seconds"]
        notes.append(f"fast build {b['cold']:.0f} s cold, {b['ccache_warm']:.0f} s "
                     f"ccache-warm, {b['cached']:.2f} s cached")
    lines.append("  " + "; ".join(notes))
    return lines


def run_bench(log, presets=None, build_times: bool = True):
    """Every preset of ``BENCH_PRESETS`` (or ``presets``): the table, the floors checked
    (cocotb at least 60% of bare C++ and 8x the -O0 build on "coe" and "tile2x2")."""
    from .bench_floors import check

    results, lines, floors = {}, [], []
    for preset in presets or BENCH_PRESETS:
        data = measure(preset=preset, log=log)
        if build_times:
            data["build_seconds"] = build_seconds(preset, log)
        if preset in ("coe", "tile2x2"):
            for name, key in (("simspeed_vs_bare", "cocotb_vs_bare"),
                              ("simspeed_vs_O0", "fast_vs_O0")):
                value = data[key] * (100.0 if name == "simspeed_vs_bare" else 1.0)
                floors.append(check(name, value, label=preset))
        results[preset] = data
        lines += _preset_lines(data) + [""]
    results["floors"] = [floor.to_json() for floor in floors]
    for floor in floors:
        lines.append(f"  {floor.title}: {floor.value:.3g} {floor.unit} ({floor.verdict()})")
    results["bit_exact"] = all(results[p]["bit_exact"] for p in results if p != "floors")
    return results, "\n".join(lines).rstrip()
