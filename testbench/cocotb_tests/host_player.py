"""Plays a host program (:mod:`testbench.runtime.host_program`) on an RDU or a system top.

Two cocotb tests, chosen by the runner's ``testcase``:

* ``play_on_rdu``: one RDU top, args ``config`` (RDUParams JSON) and ``steps``; its
  leading :class:`~testbench.runtime.host_program.Preload` steps go through the memory
  tiers' backdoor after reset, before the host's cycle count starts.
* ``play_on_system``: a multi-socket system top, args ``config`` (SystemParams JSON),
  ``phases`` (each socket's steps of a phase play at the same time, one Runtime per
  socket over its own host port; a phase ends when every socket is done) and the
  links' error-injection settings. The first phase's Preloads go through each socket's
  backdoor, socket by socket, before any host step.

Nothing here runs per cycle: the clock toggles in the simulator, the runtime sleeps
on ``busy`` edges, and the passive checkers of the RTL (mesh and stage credits, link
source checks, DRAM timing) are sticky levels read after every step. With arg
``observe_counters`` the testbench also counts every performance-counter event
itself (a per-cycle monitor, for the test that checks the counters).
Outputs: see :mod:`testbench.runtime.host_program`. Both tests also save
``player_window`` = (wall seconds, cycles) of playing every step after the preloads and
``player_preload`` = (wall seconds, cycles) of the preloads.
"""

import gc
import time

import cocotb
import numpy as np
from cocotb.triggers import RisingEdge

from hdl.rdu.config import DDR_BASE, RDUParams
from hdl.rdu.tier_params import memory_tier_params
from testbench.bfm.clock_reset import start_clock_and_reset
from testbench.bfm.rdu_monitors import count_counter_events
from testbench.bfm.sim_io import save_outputs, sim_args, sim_inputs
from testbench.bfm.tier_backdoor import TierBackdoor
from testbench.runtime import host_program as hp
from testbench.runtime.host_link import paced_write
from testbench.runtime.host_registers import COMMANDS_DONE, COPY_STATUS, copy_status_fields
from testbench.runtime.image import ImageError, ProgramImage
from testbench.runtime.memory_map import check_preload
from testbench.runtime.runtime import DeviceError, Runtime
from testbench.runtime.transport import AxiTransport

__all__ = ["StepPlayer"]


class StepPlayer:
    """Interprets host-program steps through one :class:`Runtime`, filling ``outputs``."""

    def __init__(self, runtime: Runtime, arrays: dict, outputs: dict, observed=None):
        self.runtime, self.arrays, self.outputs = runtime, arrays, outputs
        self.observed = observed   # counter events counted by the testbench, or None
        self._play = {hp.Preload: self._late_preload, hp.Write: self._write, hp.Load: self._load,
                      hp.LoadRefused: self._load_refused, hp.Launch: self._launch,
                      hp.Schedule: self._schedule, hp.Copy: self._copy,
                      hp.PacedWrite: self._paced_write, hp.Progress: self._progress,
                      hp.Read: self._read, hp.Counters: self._counters}

    async def play(self, step) -> None:
        await self._play[type(step)](step)

    def _image(self, key):
        return None if key is None else ProgramImage.from_bytes(self.arrays[key].tobytes())

    def _timed(self, name: str, start: int, launch) -> None:
        self.outputs[hp.cycles_key(name)] = np.array(
            [launch.host_cycles, launch.kernel_cycles, launch.program_cycles], dtype=np.int64)
        self._window(name, start)

    def _window(self, name: str, start: int) -> None:
        self.outputs[hp.window_key(name)] = np.array([start, self.runtime.cycle], np.int64)

    async def _late_preload(self, step: hp.Preload) -> None:
        raise ValueError(f"Preload at {step.address:#x}: the backdoor preloads only before "
                         f"the host starts, on a single RDU top (play_on_rdu), so every "
                         f"Preload must come before any other step")

    async def _write(self, step: hp.Write) -> None:
        await self.runtime.write(step.address, self.arrays[step.array])

    async def _load(self, step: hp.Load) -> None:
        start = self.runtime.cycle
        launch = await self.runtime.load_program(self._image(step.image))
        if step.name:
            self._timed(step.name, start, launch)

    async def _load_refused(self, step: hp.LoadRefused) -> None:
        before = await self.runtime.register(COMMANDS_DONE)
        try:
            await self.runtime.load_program(self.arrays[step.image].tobytes())
        except ImageError as error:
            self.outputs[hp.reason_key(step.name)] = np.frombuffer(str(error).encode(),
                                                                   np.uint8)
        else:
            raise AssertionError(f"{step.name}: the runtime accepted a bad image")
        self.outputs[step.name] = np.array([before, await self.runtime.register(COMMANDS_DONE)])

    async def _launch(self, step: hp.Launch) -> None:
        start = self.runtime.cycle
        launch = await self.runtime.launch(self.arrays[step.arguments])
        self._timed(step.name, start, launch)

    async def _schedule(self, step: hp.Schedule) -> None:
        start = self.runtime.cycle
        launch = await self.runtime.run_schedule(
            [(self._image(image), self.arrays[arguments]) for image, arguments in step.entries])
        self._timed(step.name, start, launch)

    async def _copy(self, step: hp.Copy) -> None:
        start = self.runtime.cycle
        cycles = await self.runtime.copy(step.src, step.dst, step.nbytes)
        self.outputs[step.name] = np.array([cycles], dtype=np.int64)
        self._window(step.name, start)

    async def _paced_write(self, step: hp.PacedWrite) -> None:
        start = self.runtime.cycle
        cycles = await paced_write(self.runtime, step.address,
                                   self.arrays[step.array].tobytes(), step.bytes_per_cycle)
        self.outputs[step.name] = np.array([cycles], dtype=np.int64)
        self._window(step.name, start)

    async def _progress(self, step: hp.Progress) -> None:
        with open(step.file, "a") as report:
            report.write(f"{step.line} at cycle {self.runtime.cycle}\n")

    async def _read(self, step: hp.Read) -> None:
        self.outputs[step.name] = await self.runtime.read(step.address, step.count)

    async def _counters(self, step: hp.Counters) -> None:
        if self.observed is not None:
            self.outputs[f"{step.name}_observed"] = self.observed.copy()
        self.outputs[step.name] = await self.runtime.counters()


def _freeze_imports() -> None:
    """Move every object alive now (modules, classes, the design's handles) out of the
    collector's reach: thousands of short-lived trigger objects per kernel otherwise
    make each full collection walk them all again."""
    gc.collect()
    gc.freeze()


def _sticky_faults(dut, prefix: str = "") -> list[str]:
    """The RTL's passive checkers that have fired (their levels are sticky)."""
    return [name for name in ("credit_error", "link_error")
            if hasattr(dut, prefix + name) and getattr(dut, prefix + name).value]


async def _check_memory_tiers(runtime: Runtime, what: str) -> None:
    status = copy_status_fields(await runtime.register(COPY_STATUS))
    if status["memory_error"]:
        raise DeviceError(f"{what}: a DRAM timing checker fired during the session ({status})")


async def _preload(dut, config: RDUParams, steps: list, arrays: dict, prefix: str = "",
                   shared: bool = False) -> int:
    """Every :class:`~testbench.runtime.host_program.Preload` of ``steps`` through its
    tier's backdoor (``<prefix>hbm_*``/``<prefix>ddr_*`` ports of the top; ``shared``:
    the system top's ``hbm_pl_*``/``ddr_pl_*`` data inputs are the sockets'), in order;
    returns the cycles."""
    if not steps:
        return 0
    tiers = memory_tier_params(config)
    regions = {name: [] for name in tiers}
    for step in steps:
        data = arrays[step.array]
        tier = check_preload(config, step.address, data.nbytes)
        regions[tier].append((step.address - (DDR_BASE if tier == "ddr" else 0), data))
    cycles = 0
    for name, tier_regions in regions.items():
        if tier_regions:
            backdoor = TierBackdoor(dut, f"{prefix}{name}_", tiers[name],
                                    shared_prefix=f"{name}_" if shared else None)
            cycles += await backdoor.preload(tier_regions)
    return cycles


@cocotb.test()
async def play_on_rdu(dut):
    """A :class:`~testbench.runtime.host_script.HostScript` on the RDU top."""
    args, arrays = sim_args(), sim_inputs()
    config = RDUParams(**args["config"])
    steps = [hp.step_from_json(data) for data in args["steps"]]
    preloads = next((k for k, step in enumerate(steps) if not isinstance(step, hp.Preload)),
                    len(steps))
    _freeze_imports()
    await start_clock_and_reset(dut, impl="gpi")
    runtime = Runtime(dut, config, timeout_cycles=args["timeout_cycles"],
                      stall=args.get("host_stall", 0.0), seed=cocotb.RANDOM_SEED)
    wall = time.perf_counter()
    preload_cycles = await _preload(dut, config, steps[:preloads], arrays)
    preload_seconds = time.perf_counter() - wall
    await runtime.start()
    observed = None
    if args.get("observe_counters"):
        observed = np.zeros((len(config.units()), 3), dtype=np.int64)
        cocotb.start_soon(count_counter_events(dut, observed))
    outputs = {}
    player = StepPlayer(runtime, arrays, outputs, observed)
    wall = time.perf_counter()
    for index, step in enumerate(steps[preloads:], preloads):
        await player.play(step)
        faults = _sticky_faults(dut)
        assert not faults, f"{faults[0]} fired during step {index} ({type(step).__name__})"
    assert not int(dut.config_error.value), "a configuration record was refused"
    if config.memory == "tiers":
        await _check_memory_tiers(runtime, "the session")
    outputs["player_window"] = np.array([time.perf_counter() - wall, runtime.cycle])
    outputs["player_preload"] = np.array([preload_seconds, preload_cycles])
    save_outputs(**outputs)


async def _play_steps(player: StepPlayer, steps: list) -> None:
    for step in steps:
        await player.play(step)


@cocotb.test()
async def play_on_system(dut):
    """A :class:`~testbench.system.script.SystemScript` on the system top."""
    from hdl.system.config import SystemParams
    from hdl.system.system import DIRECTIONS, LINK_STATS

    args, arrays = sim_args(), sim_inputs()
    config = SystemParams.from_json(args["config"])
    _freeze_imports()
    dut.link_flip_threshold.value = args["flip_threshold"]
    dut.link_drop_threshold.value = args["drop_threshold"]
    dut.link_seed.value = args["link_seed"]
    dut.link_start.value = 0
    await start_clock_and_reset(dut, impl="gpi")
    dut.link_start.value = 1
    await RisingEdge(dut.clk)
    dut.link_start.value = 0
    phases = [hp.Phase.from_json(data) for data in args["phases"]]
    preload_cycles, wall = 0, time.perf_counter()
    if phases:  # the first phase's Preloads, socket by socket (shared data inputs)
        for k, steps in enumerate(phases[0].steps):
            preloads = [step for step in steps if isinstance(step, hp.Preload)]
            preload_cycles += await _preload(dut, config.socket_rdu(k), preloads, arrays,
                                             prefix=f"s{k}_", shared=True)
            steps[:] = [step for step in steps if not isinstance(step, hp.Preload)]
    preload_seconds = time.perf_counter() - wall
    runtimes = [Runtime(dut, config.socket_rdu(k), timeout_cycles=args["timeout_cycles"],
                        transport=AxiTransport(dut, stall=args["host_stall"],
                                               seed=cocotb.RANDOM_SEED * 1000 + k,
                                               prefix=f"s{k}_"),
                        prefix=f"s{k}_")
                for k in range(config.sockets)]
    for runtime in runtimes:
        await runtime.start()
    outputs = {"player_preload": np.array([preload_seconds, preload_cycles])}
    players = [StepPlayer(runtime, arrays, outputs) for runtime in runtimes]
    clock = runtimes[0]
    wall = time.perf_counter()
    for index, phase in enumerate(phases):
        start = clock.cycle
        tasks = [cocotb.start_soon(_play_steps(players[k], steps))
                 for k, steps in enumerate(phase.steps) if steps]
        for task in tasks:
            await task
        if phase.name:
            outputs[hp.window_key(phase.name)] = np.array([start, clock.cycle], dtype=np.int64)
        for k in range(config.sockets):
            faults = _sticky_faults(dut, f"s{k}_")
            assert not faults, f"phase {index} ({phase.name}): socket {k} {faults[0]} fired"
    outputs["player_window"] = np.array([time.perf_counter() - wall, clock.cycle])
    for k, runtime in enumerate(runtimes):
        assert not int(getattr(dut, f"s{k}_config_error").value), \
            f"socket {k} refused a configuration record"
        if config.socket_rdu(k).memory == "tiers":
            await _check_memory_tiers(runtime, f"socket {k}")
    links = np.zeros((len(config.links()), len(DIRECTIONS), len(LINK_STATS)), dtype=np.int64)
    for i in range(len(config.links())):
        for j, d in enumerate(DIRECTIONS):
            for s, name in enumerate(LINK_STATS):
                links[i, j, s] = int(getattr(dut, f"l{i}_{d}_{name}").value)
    outputs["links"] = links
    save_outputs(**outputs)
