"""A scripted runtime script: build it in pytest or the CLI, run it in one simulation.

The host program (which tensors go where, which programs load, which kernels
launch, what is read back) is decided before the simulation starts as typed
steps (:mod:`.host_program`) and handed to
:mod:`testbench.cocotb_tests.host_player`, which plays them through the
:class:`~testbench.runtime.runtime.Runtime`. Tensor addresses come from the
tensor region of device memory; the runtime places images and argument blocks
in its own region. With memory="tiers" tensors may also live in DDR
(``tier="ddr"``: the :attr:`HostScript.ddr` allocator) and ``copy`` steps move them
between the tiers with the copy engine; ``preload``/``preload_at`` place data in
either tier through the tiers' backdoor before the host starts (no host cycles, no
AXI traffic), for data whose transfer is not what a run measures.
"""

import numpy as np

from hdl.rdu.config import RDUParams
from testbench.sim.build_cache import Design
from testbench.sim.runner import simulate

from . import host_program as hp
from .image import ProgramImage
from .memory_map import (
    DeviceMemory,
    check_copy,
    check_preload,
    check_schedule_fits,
    ddr_region,
    tensor_region,
)

__all__ = ["HostScript", "rdu_design", "player_timing"]


def rdu_design(config: RDUParams) -> Design:
    """The RDU top for ``config`` as a cached build."""
    suffix = "_tiers" if config.memory == "tiers" else ""
    return Design(f"rdu_{config.rows}x{config.cols}_l{config.lanes}{suffix}",
                  "hdl.rdu.top:make_rdu",
                  {"preset": "small", **config.to_json()}, profile="fast")


class HostScript:
    """Steps of one host program; :meth:`run` simulates them and returns what was read."""

    def __init__(self, config: RDUParams):
        self.config = config
        base, size = tensor_region(config.memory_bytes)
        self.tensors = DeviceMemory(size, config.vector_bits // 8, base)
        #: the DDR tier's allocator (memory="tiers"), else None
        self.ddr = None
        if config.memory == "tiers":
            ddr_base, ddr_size = ddr_region(config)
            self.ddr = DeviceMemory(ddr_size, config.vector_bits // 8, ddr_base)
        self.steps: list[hp.HostStep] = []
        self.last_timing: dict = {}
        self.arrays: dict[str, np.ndarray] = {}

    def _array(self, prefix: str, array) -> str:
        name = f"{prefix}{len(self.arrays)}"
        self.arrays[name] = np.ascontiguousarray(array)
        return name

    def _allocator(self, tier: str) -> DeviceMemory:
        if tier == "hbm":
            return self.tensors
        if tier == "ddr":
            if self.ddr is None:
                raise ValueError(f"this RDU has no DDR tier (memory={self.config.memory!r}; "
                                 f"use memory='tiers', e.g. the 'coe' preset)")
            return self.ddr
        raise ValueError(f"tier must be 'hbm' or 'ddr', not {tier!r}")

    def preload(self, array, what: str = "tensor", *, tier: str = "hbm",
                align: int = 1) -> int:
        """As :meth:`write`, but through the memory tiers' backdoor before the host's cycle
        count starts (see :meth:`preload_at`); return the address."""
        array = np.ascontiguousarray(array)
        allocator = self._allocator(tier)
        mark = allocator.mark()
        address = allocator.allocate(array.nbytes, what, align)
        try:
            self.preload_at(address, array)
        except ValueError:
            allocator.release(mark)  # a refused preload allocates nothing
            raise
        return address

    def preload_at(self, address: int, array) -> None:
        """Place ``array`` (its little-endian bytes) at ``address`` through the backdoor of
        the tier that holds it: no AXI traffic and no host cycles (the player preloads
        before the host's cycle count starts, one simulated cycle per device word).
        ValueError unless the RDU has memory tiers, the range is inside one tier and no
        step other than a preload comes before; any alignment."""
        array = np.ascontiguousarray(array)
        self._check_preload_first()
        check_preload(self.config, address, array.nbytes)
        self.steps.append(hp.Preload(address, self._array("p", array)))

    def _check_preload_first(self) -> None:
        for index, step in enumerate(self.steps):
            if not isinstance(step, hp.Preload):
                raise ValueError(f"a preload must come before every other step (it happens "
                                 f"before the host starts), but step {index} is a "
                                 f"{type(step).__name__}")

    def write(self, array, what: str = "tensor", *, tier: str = "hbm", align: int = 1) -> int:
        """Place ``array`` (its little-endian bytes) in device memory (``tier`` "hbm":
        the tensor region at 0, the only one with memory="sram"; "ddr": the DDR tier) at
        a multiple of ``align`` bytes; return its address."""
        array = np.ascontiguousarray(array)
        address = self._allocator(tier).allocate(array.nbytes, what, align)
        self.steps.append(hp.Write(address, self._array("w", array)))
        return address

    def allocate(self, nbytes: int, what: str = "tensor", *, tier: str = "hbm",
                 align: int = 1) -> int:
        return self._allocator(tier).allocate(nbytes, what, align)

    def copy(self, src: int, dst: int, nbytes: int, name: str) -> None:
        """Copy ``nbytes`` between the tiers with the copy engine (memory="tiers");
        output ``name`` is the copy's length in cycles (COPY_CYCLES), shape (1,).
        Refused here (ValueError) if the runtime would refuse it."""
        check_copy(self.config, src, dst, nbytes)
        self.steps.append(hp.Copy(src, dst, nbytes, name))

    def paced_write(self, address: int, array, bytes_per_cycle: float, name: str) -> None:
        """Write ``array`` at ``address`` over the host port throttled to ``bytes_per_cycle``
        (a host link slower than the port); output ``name`` is the write's cycles, shape (1,),
        and ``result.window(name)`` its (first, last) host cycle."""
        self.steps.append(hp.PacedWrite(address, self._array("w", np.ascontiguousarray(array)),
                                        float(bytes_per_cycle), name))

    def progress(self, path: str, line: str) -> None:
        """When the simulation reaches this step, append ``line`` to the file ``path`` (a
        progress report the caller can follow while the simulator runs)."""
        self.steps.append(hp.Progress(str(path), line))

    def write_at(self, address: int, array) -> None:
        """Write ``array`` (its little-endian bytes) at ``address``, which the caller
        allocated (e.g. to refill a buffer before a second launch)."""
        self.steps.append(hp.Write(address, self._array("w", np.ascontiguousarray(array))))

    def load(self, image: ProgramImage, name: str | None = None) -> None:
        """Program Load of ``image``; with a ``name``, its cycles are reported as a launch's
        (``result.launch(name)``, ``result.window(name)``)."""
        self.steps.append(hp.Load(self._array(
            "i", np.frombuffer(image.to_bytes(), dtype=np.uint8)), name))

    def load_refused(self, blob: bytes, name: str) -> None:
        """Hand the runtime raw image bytes that it must refuse; output ``name`` is
        (commands the device had run before, after) and ``<name>_reason`` the message."""
        self.steps.append(hp.LoadRefused(self._array("i", np.frombuffer(blob, dtype=np.uint8)),
                                         name))

    def launch(self, arguments, name: str) -> None:
        """Argument Load + Kernel Execute; the launch's cycles are reported as ``name``."""
        self.steps.append(hp.Launch(self._array("a", np.asarray(arguments, np.uint32)), name))

    def schedule(self, kernels, name: str) -> None:
        """``[(image or None, arguments), ...]`` run hardware-orchestrated (split into
        several SCHEDULE commands if the command region cannot hold it at once);
        OutOfDeviceMemory here if one entry alone is larger than the region."""
        check_schedule_fits(self.config, [
            (0 if image is None else len(image.words), len(arguments))
            for image, arguments in kernels])
        entries = []
        for image, arguments in kernels:
            key = None if image is None else self._array("i", np.frombuffer(
                image.to_bytes(), dtype=np.uint8))
            entries.append((key, self._array("a", np.asarray(arguments, np.uint32))))
        self.steps.append(hp.Schedule(tuple(entries), name))

    def read(self, name: str, address: int, count: int) -> None:
        """Read ``count`` 32-bit words at ``address`` back as output ``name``."""
        self.steps.append(hp.Read(name, address, count))

    def counters(self, name: str) -> None:
        """Snapshot every unit's performance counters as output ``name`` (units x 3)."""
        self.steps.append(hp.Counters(name))

    def run(self, *, run_name: str, seed: int = 1, waves: bool = False,
            timeout_cycles: int = 200_000, host_stall: float = 0.0,
            observe_counters: bool = False) -> hp.HostProgramResult:
        """Simulate every step; ``host_stall`` pauses the host's AXI channels at random;
        ``observe_counters`` also counts the performance-counter events in the testbench
        (``<name>_observed`` beside every :meth:`counters` snapshot; a per-cycle monitor)."""
        result = simulate(rdu_design(self.config), "testbench.cocotb_tests.host_player",
                          run_name=run_name, seed=seed, waves=waves, testcase="play_on_rdu",
                          args={"config": self.config.to_json(),
                                "steps": [hp.step_to_json(step) for step in self.steps],
                                "timeout_cycles": timeout_cycles, "host_stall": host_stall,
                                "observe_counters": observe_counters},
                          inputs=self.arrays)
        #: where the last run's wall time went (seconds) and the cycles it simulated
        self.last_timing = player_timing(result)
        return hp.HostProgramResult(result.outputs)


def player_timing(result) -> dict:
    """Take the player's ``player_window`` and ``player_preload`` outputs out of a
    simulation ``result``: the build check's and the simulator's wall seconds, the host
    program's window (wall seconds, ``cycles``) and the backdoor preload before it."""
    window_seconds, window_cycles = result.outputs.pop("player_window")
    preload_seconds, preload_cycles = result.outputs.pop("player_preload")
    return {"build_check": result.build_seconds, "simulator": result.run_seconds,
            "window": float(window_seconds), "cycles": int(window_cycles),
            "preload": float(preload_seconds), "preload_cycles": int(preload_cycles)}
