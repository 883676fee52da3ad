"""The host program a script hands to the simulator: typed steps, one JSON form.

A script (:class:`~testbench.runtime.host_script.HostScript` for one RDU,
:class:`~testbench.system.script.SystemScript` for several sockets) decides every
step before the simulation starts; the player
(:mod:`testbench.cocotb_tests.host_player`) interprets the same step classes
through a :class:`~testbench.runtime.runtime.Runtime`. Steps cross the process
boundary as JSON (:func:`step_to_json`, :func:`step_from_json`); the arrays they
name travel beside them in ``inputs.npz``, by key.

Outputs, by step (names are the step's ``name``):

* :class:`Read`: the words, under ``name``.
* :class:`Counters`: every unit's (busy, input stall, output stall) counts,
  ``name``; with the player's counter observer on, also ``<name>_observed``.
* :class:`Launch`, :class:`Schedule` and a named :class:`Load`: ``<name>_cycles``
  = (host cycles, AGCU kernel cycles, AGCU program-load cycles of a Schedule) and
  ``<name>_window`` = (first, last) host cycle.
* :class:`Copy`, :class:`PacedWrite`: ``name`` = (cycles,) and ``<name>_window``.
* :class:`LoadRefused`: ``name`` = (commands done before, after) and
  ``<name>_reason``, the runtime's message as bytes.
* A named :class:`Phase` of a system: ``<name>_window``.

A script's ``run`` returns them as a :class:`HostProgramResult`: the arrays by name,
and :meth:`~HostProgramResult.window`, :meth:`~HostProgramResult.launch` and
:meth:`~HostProgramResult.reason` for the timed and refused steps, so no caller
composes an output key.
"""

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, fields

import numpy as np

__all__ = ["Preload", "Write", "Load", "LoadRefused", "Launch", "Schedule", "Copy", "PacedWrite",
           "Progress", "Read", "Counters", "HostStep", "Phase", "step_to_json",
           "step_from_json", "window_key", "cycles_key", "reason_key", "LaunchCycles",
           "HostProgramResult"]


@dataclass(frozen=True)
class Preload:
    """Place array ``array`` (its little-endian bytes) at ``address`` through the memory
    tiers' backdoor, before the host's cycle count starts (memory="tiers"; every Preload
    comes before any other step)."""

    address: int
    array: str


@dataclass(frozen=True)
class Write:
    """Write array ``array`` (its little-endian bytes) at ``address``."""

    address: int
    array: str


@dataclass(frozen=True)
class Load:
    """Program Load of the image bytes in array ``image``; timed as a launch if named."""

    image: str
    name: str | None = None


@dataclass(frozen=True)
class LoadRefused:
    """Hand the runtime the image bytes in ``image``, which it must refuse."""

    image: str
    name: str


@dataclass(frozen=True)
class Launch:
    """Argument Load (array ``arguments``, uint32 words) and Kernel Execute."""

    arguments: str
    name: str


@dataclass(frozen=True)
class Schedule:
    """``entries`` = ((image key or None, arguments key), ...) run hardware-orchestrated."""

    entries: tuple
    name: str


@dataclass(frozen=True)
class Copy:
    """Copy ``nbytes`` from ``src`` to ``dst`` with the copy engine (memory="tiers")."""

    src: int
    dst: int
    nbytes: int
    name: str


@dataclass(frozen=True)
class PacedWrite:
    """Write array ``array`` at ``address`` throttled to ``bytes_per_cycle`` (a host link)."""

    address: int
    array: str
    bytes_per_cycle: float
    name: str


@dataclass(frozen=True)
class Progress:
    """Append ``line`` and `` at cycle C`` (the host cycle) to the file ``file`` when the
    simulation reaches this step."""

    file: str
    line: str


@dataclass(frozen=True)
class Read:
    """Read ``count`` 32-bit words at ``address`` back as output ``name``."""

    name: str
    address: int
    count: int


@dataclass(frozen=True)
class Counters:
    """Snapshot every unit's performance counters as output ``name`` (units x 3)."""

    name: str


HostStep = (Preload | Write | Load | LoadRefused | Launch | Schedule | Copy | PacedWrite
            | Progress | Read | Counters)

_KINDS = {cls.__name__: cls for cls in (Preload, Write, Load, LoadRefused, Launch, Schedule,
                                        Copy, PacedWrite, Progress, Read, Counters)}


@dataclass
class Phase:
    """Steps of every socket of a system, played at the same time; a barrier at the end.
    ``name``: the phase's window is output ``<name>_window``."""

    sockets: int
    name: str | None = None

    def __post_init__(self):
        self.steps: list[list] = [[] for _ in range(self.sockets)]

    def to_json(self) -> dict:
        return {"name": self.name,
                "steps": [[step_to_json(step) for step in steps] for steps in self.steps]}

    @classmethod
    def from_json(cls, data: dict) -> "Phase":
        phase = cls(len(data["steps"]), data["name"])
        phase.steps = [[step_from_json(step) for step in steps] for steps in data["steps"]]
        return phase


def step_to_json(step) -> dict:
    """``{"kind": class name, **fields}``."""
    if type(step).__name__ not in _KINDS:
        raise TypeError(f"not a host-program step: {step!r}")
    return {"kind": type(step).__name__, **asdict(step)}


def step_from_json(data: dict):
    """The step :func:`step_to_json` wrote; ValueError for an unknown kind or field."""
    kind = data.get("kind")
    if kind not in _KINDS:
        raise ValueError(f"unknown host-program step kind {kind!r}")
    cls = _KINDS[kind]
    names = {field.name for field in fields(cls)}
    values = {key: value for key, value in data.items() if key != "kind"}
    if set(values) - names:
        raise ValueError(f"{kind} has no field(s) {sorted(set(values) - names)}")
    if cls is Schedule:
        values["entries"] = tuple(tuple(entry) for entry in values["entries"])
    return cls(**values)


def window_key(name: str) -> str:
    """Output key of a step's (first, last) host cycle."""
    return f"{name}_window"


def cycles_key(name: str) -> str:
    """Output key of a launch's (host cycles, AGCU kernel cycles)."""
    return f"{name}_cycles"


def reason_key(name: str) -> str:
    """Output key of a refused load's message (bytes)."""
    return f"{name}_reason"


@dataclass(frozen=True)
class LaunchCycles:
    """A timed launch: cycles the host waited, the AGCU's cycles of its last kernel, and
    (a Schedule's) the AGCU's cycles loading the schedule's programs."""

    host: int
    kernel: int
    program: int = 0


class HostProgramResult(Mapping):
    """Every output of a played host program by name (the arrays of :class:`Read`,
    :class:`Counters`, :class:`Copy`, ... steps), with typed access to the timed ones."""

    def __init__(self, outputs: dict):
        self._outputs = dict(outputs)

    def __getitem__(self, name: str) -> np.ndarray:
        return self._outputs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._outputs)

    def __len__(self) -> int:
        return len(self._outputs)

    def window(self, name: str) -> tuple[int, int]:
        """(first, last) host cycle of the timed step or phase ``name``."""
        first, last = self._outputs[window_key(name)]
        return int(first), int(last)

    def cycles(self, first: str, last: str | None = None) -> int:
        """Host cycles from the start of step ``first`` to the end of ``last`` (default:
        the same step)."""
        return self.window(last or first)[1] - self.window(first)[0]

    def launch(self, name: str) -> LaunchCycles:
        """The cycles of :class:`Launch`, :class:`Schedule` or named :class:`Load` ``name``."""
        return LaunchCycles(*(int(value) for value in self._outputs[cycles_key(name)]))

    def reason(self, name: str) -> str:
        """Why the runtime refused :class:`LoadRefused` ``name``."""
        return self._outputs[reason_key(name)].tobytes().decode()
