"""A scripted host program for a multi-socket system, played in one simulation.

Like :class:`testbench.runtime.host_script.HostScript`, but every step names its socket
and steps are grouped in phases: within a phase each socket plays its own steps
in order, all sockets at the same time (one :class:`~testbench.runtime.runtime.Runtime`
per socket over its own host port); a phase ends when every socket has finished
(a barrier). :meth:`SystemScript.barrier` closes a phase and names its window.

:meth:`SystemScript.run` returns a
:class:`~testbench.runtime.host_program.HostProgramResult`: each ``read`` under its
name, each launch's ``launch(name)`` (host cycles, AGCU kernel cycles) and
``window(name)`` (first, last cycle of its socket's host), each named phase's
``window(name)``, and ``links``: per link, direction (ab, ba) and
:data:`hdl.system.system.LINK_STATS` name, the counters at the end.
"""

import numpy as np

from hdl.system.config import SystemParams
from testbench.runtime import host_program as hp
from testbench.runtime.host_script import player_timing
from testbench.runtime.image import ProgramImage
from testbench.runtime.memory_map import DeviceMemory, check_schedule_fits, tensor_region
from testbench.sim.build_cache import Design
from testbench.sim.runner import simulate

__all__ = ["SystemScript", "system_design"]


def system_design(config: SystemParams, profile: str = "quick") -> Design:
    """The system top for ``config`` as a cached build (``profile``: see
    :mod:`testbench.sim.build_profile`; "quick" suits the short runs of most tests)."""
    topology = config.topology if isinstance(config.topology, str) else "custom"
    return Design(f"system_{config.sockets}_{topology}_l{config.socket_rdu(0).lanes}",
                  "hdl.system.system:make_system", config.to_json(),
                  profile=profile)


class SystemScript:
    """Phases of per-socket host steps; :meth:`run` simulates them on the system top built
    with ``profile`` ("fast" for long sessions: it builds several times longer and runs
    about ten times faster)."""

    def __init__(self, config: SystemParams, profile: str = "quick"):
        self.config, self.profile = config, profile
        self.tensors = []
        for k in range(config.sockets):
            rdu = config.socket_rdu(k)
            base, size = tensor_region(rdu.memory_bytes)
            self.tensors.append(DeviceMemory(size, rdu.vector_bits // 8, base))
        self.phases: list[hp.Phase] = []
        self.arrays: dict[str, np.ndarray] = {}
        self._images: dict[bytes, str] = {}
        self._open_phase()

    def _open_phase(self) -> None:
        self.phases.append(hp.Phase(self.config.sockets))

    def _steps(self, socket: int) -> list:
        if not isinstance(socket, int) or not 0 <= socket < self.config.sockets:
            raise ValueError(f"socket {socket!r} does not exist (sockets "
                             f"0..{self.config.sockets - 1})")
        return self.phases[-1].steps[socket]

    def _array(self, prefix: str, array) -> str:
        array = np.ascontiguousarray(array)
        if prefix == "i":  # a program image queued again is the same input, not a new one
            key = array.tobytes()
            if key not in self._images:
                self._images[key] = self._add_array(prefix, array)
            return self._images[key]
        return self._add_array(prefix, array)

    def _add_array(self, prefix: str, array) -> str:
        name = f"{prefix}{len(self.arrays)}"
        self.arrays[name] = array
        return name

    def allocate(self, socket: int, nbytes: int, what: str = "tensor") -> int:
        self._steps(socket)
        return self.tensors[socket].allocate(nbytes, what)

    def write(self, socket: int, array, what: str = "tensor") -> int:
        """Place ``array`` in socket ``socket``'s tensor region; return its address."""
        array = np.ascontiguousarray(array)
        address = self.allocate(socket, array.nbytes, what)
        self._steps(socket).append(hp.Write(address, self._array("w", array)))
        return address

    def load(self, socket: int, image: ProgramImage) -> None:
        self._steps(socket).append(hp.Load(self._array(
            "i", np.frombuffer(image.to_bytes(), dtype=np.uint8))))

    def launch(self, socket: int, arguments, name: str) -> None:
        """Argument Load + Kernel Execute on socket ``socket``; cycles as ``launch(name)``."""
        self._steps(socket).append(hp.Launch(self._array(
            "a", np.asarray(arguments, np.uint32)), name))

    def schedule(self, socket: int, kernels, name: str) -> None:
        """``[(image, arguments), ...]`` run hardware-orchestrated on socket ``socket`` (one
        AGCU SCHEDULE, split if the command region cannot hold it at once; programs stay
        resident in device memory once written); cycles as ``launch(name)``."""
        check_schedule_fits(self.config.socket_rdu(socket), [
            (len(image.words), len(arguments)) for image, arguments in kernels])
        entries = tuple(
            (self._array("i", np.frombuffer(image.to_bytes(), dtype=np.uint8)),
             self._array("a", np.asarray(arguments, np.uint32)))
            for image, arguments in kernels)
        self._steps(socket).append(hp.Schedule(entries, name))

    def read(self, socket: int, name: str, address: int, count: int) -> None:
        """Read ``count`` 32-bit words of socket ``socket`` at ``address`` as output ``name``."""
        self._steps(socket).append(hp.Read(name, address, count))

    def counters(self, socket: int, name: str) -> None:
        """Snapshot socket ``socket``'s performance counters as output ``name`` (units x 3)."""
        self._steps(socket).append(hp.Counters(name))

    def progress(self, socket: int, path: str, line: str) -> None:
        """When socket ``socket`` reaches this step, append ``line`` to the file ``path``."""
        self._steps(socket).append(hp.Progress(str(path), line))

    def barrier(self, name: str | None = None) -> None:
        """End the current phase (its window is the result's ``window(name)`` if named)."""
        self.phases[-1].name = name
        self._open_phase()

    def run(self, *, run_name: str, seed: int = 1, waves: bool = False,
            timeout_cycles: int = 200_000, host_stall: float = 0.0, flip_rate: float = 0.0,
            drop_rate: float = 0.0, link_seed: int = 1, log=print) -> hp.HostProgramResult:
        """Simulate every phase; ``flip_rate`` / ``drop_rate`` per link flit on every channel;
        ``log`` receives build and rerun messages."""
        for name, rate in (("flip_rate", flip_rate), ("drop_rate", drop_rate)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"{name} must be in [0, 1), not {rate}")
        if not link_seed:
            raise ValueError("link_seed must be non-zero (xorshift32 state)")
        return self._simulate(run_name=run_name, seed=seed, waves=waves, log=log,
                              timeout_cycles=timeout_cycles, host_stall=host_stall,
                              flip_threshold=_threshold(flip_rate),
                              drop_threshold=_threshold(drop_rate), link_seed=link_seed)

    def _simulate(self, *, run_name: str, seed: int, waves: bool, log,
                  **settings) -> hp.HostProgramResult:
        phases = [phase.to_json() for phase in self.phases
                  if phase.name or any(phase.steps)]
        result = simulate(system_design(self.config, self.profile),
                          "testbench.cocotb_tests.host_player",
                          run_name=run_name, seed=seed, waves=waves, log=log,
                          testcase="play_on_system",
                          args={"config": self.config.to_json(), "phases": phases,
                                **settings},
                          inputs=self.arrays)
        #: where the last run's wall time went, as HostScript.last_timing has it
        self.last_timing = player_timing(result)
        return hp.HostProgramResult(result.outputs)


def _threshold(rate: float) -> int:
    return min(int(round(rate * (1 << 32))), (1 << 32) - 1)
