"""Progress of a running simulation: the cocotb player appends a line to a file as it
finishes a step (``HostScript.progress``); :class:`ProgressFollower` hands every new line to a
callback from a thread while the simulator runs.

A CoE session writes one request line per finished request, after its last Run
(:func:`request_line`)::

    [k/N] request i: expert e in slot s (hit)
    [k/N] request i: expert e in slot s (switched in from DDR, B B)

optionally followed by `` at cycle C``, the simulated cycle the line was reached at
(:func:`parse_request_line` reads both). :class:`SessionProgress` turns the lines into a
status: requests done / total, the current expert, the hit rate so far and, when the
lines carry cycles, simulated cycles per wall second.
"""

import os
import re
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .plan import Plan, Run, Switch

__all__ = ["ProgressFollower", "RequestDone", "RequestLines", "request_line",
           "parse_request_line", "format_status", "SessionProgress"]

_REQUEST_LINE = re.compile(
    r"\[(?P<done>\d+)/(?P<total>\d+)\] request (?P<request>\d+): expert (?P<expert>\S+) "
    r"in slot (?P<slot>\d+) \((?:hit|switched in from (?P<source>\w+), (?P<nbytes>\d+) B)\)"
    r"(?: at cycle (?P<cycle>\d+))?")


@dataclass(frozen=True)
class RequestDone:
    """One parsed request line: ``source`` is where the expert was switched in from
    (``"ddr"``, ``"host"``; ``None`` on a hit), ``cycle`` the simulated cycle or None."""

    done: int
    total: int
    request: int
    expert: str
    slot: int
    source: str | None
    nbytes: int
    cycle: int | None

    @property
    def hit(self) -> bool:
        return self.source is None


def request_line(done: int, total: int, request: int, expert: str, slot: int,
                 switched: tuple | None = None) -> str:
    """The line of the ``done``-th of ``total`` finished requests; ``switched`` is
    ``(source, nbytes)`` when its expert was switched in, None on a hit."""
    how = "hit" if switched is None else f"switched in from {switched[0].upper()}, {switched[1]} B"
    return f"[{done}/{total}] request {request}: expert {expert} in slot {slot} ({how})"


class RequestLines:
    """The request lines of a plan's session: :meth:`after` each step in order gives the
    line that follows a request's last Run (None after any other step); ``source`` is
    where its Switches copy from ("ddr" or "host")."""

    def __init__(self, plan: Plan, requests: dict, source: str):
        self.requests, self.source = requests, source
        self.total = sum(self._ends_request(step) for step in plan.steps)
        self.done, self._switched = 0, {}

    def _ends_request(self, step) -> bool:
        return (isinstance(step, Run)
                and step.token == self.requests[step.request].new_tokens - 1)

    def after(self, step) -> str | None:
        if isinstance(step, Switch):
            self._switched[step.expert] = step
        if not self._ends_request(step):
            return None
        self.done += 1
        switch = self._switched.pop(step.expert, None)
        return request_line(self.done, self.total, step.request, step.expert, step.slot,
                            None if switch is None else (self.source, switch.nbytes))


def parse_request_line(line: str) -> RequestDone | None:
    """The :class:`RequestDone` of a request line, or None for any other line."""
    match = _REQUEST_LINE.fullmatch(line.strip())
    if match is None:
        return None
    fields = match.groupdict()
    return RequestDone(int(fields["done"]), int(fields["total"]), int(fields["request"]),
                       fields["expert"], int(fields["slot"]),
                       fields["source"] and fields["source"].lower(), int(fields["nbytes"] or 0),
                       None if fields["cycle"] is None else int(fields["cycle"]))


def _rate(cycles_per_second: float) -> str:
    for scale, unit in ((1e6, "M"), (1e3, "k")):
        if cycles_per_second >= scale:
            return f"{cycles_per_second / scale:.1f}{unit}"
    return f"{cycles_per_second:.0f}"


def format_status(event: RequestDone, hits: int, elapsed: float,
                  cycles_per_second: float | None = None, bar: int = 0) -> str:
    """The status after ``event`` with ``hits`` hits so far, ``elapsed`` wall seconds in:
    the request line and the figures (``bar == 0``, one line per request), or, for a line
    redrawn in place, a bar of ``bar`` cells and the figures, most telling first (a
    narrow terminal cuts the tail)."""
    hit_rate = f"hit rate {hits / event.done:.0%}"
    speed = [] if cycles_per_second is None else [f"{_rate(cycles_per_second)} cycles/s"]
    elapsed_text = f"{elapsed:.1f} s elapsed"
    if bar:
        filled = bar * event.done // event.total
        how = "hit" if event.hit else f"switched in from {event.source.upper()}"
        return " | ".join([f"[{'#' * filled}{'.' * (bar - filled)}] {event.done}/{event.total}",
                           hit_rate, *speed, f"{event.expert} ({how})", elapsed_text])
    cycle = [] if event.cycle is None else [f"cycle {event.cycle:,}"]
    line = request_line(event.done, event.total, event.request, event.expert, event.slot,
                        None if event.hit else (event.source, event.nbytes))
    return " | ".join([line, hit_rate, *cycle, *speed, elapsed_text])


class SessionProgress:
    """Callback for :class:`ProgressFollower`: a status per request line, other lines as
    they are. With ``live`` (a terminal stream) the status is one line redrawn in place;
    without, ``log(text)`` gets a plain line per request. :meth:`close` ends the line.
    ``width``: the live line's columns (default: the terminal's, less one)."""

    BAR = 10

    def __init__(self, log, live=None, clock=time.monotonic, width: int | None = None):
        self.log, self.live, self.clock, self.width = log, live, clock, width
        self.start = clock()
        self.hits = 0
        self._first = None  # (cycle, wall time) of the first line that carried a cycle
        self._status = ""
        self._lock = threading.Lock()

    def __call__(self, line: str) -> None:
        event = parse_request_line(line)
        with self._lock:
            if event is None:
                self._plain(line)
                return
            now = self.clock()
            self.hits += event.hit
            rate = None
            if event.cycle is not None:
                if self._first is None:
                    self._first = (event.cycle, now)
                elif now > self._first[1]:
                    rate = (event.cycle - self._first[0]) / (now - self._first[1])
            if self.live is None:
                self.log(format_status(event, self.hits, now - self.start, rate))
                return
            self._status = format_status(event, self.hits, now - self.start, rate, self.BAR)
            self._draw()

    def _columns(self) -> int:
        """The live stream's terminal width (stdout may be a pipe while stderr is not)."""
        try:
            return os.get_terminal_size(self.live.fileno()).columns
        except (AttributeError, OSError, ValueError):
            return shutil.get_terminal_size().columns

    def _draw(self) -> None:
        width = self.width or self._columns() - 1
        self.live.write("\r" + self._status[:width] + "\x1b[K")
        self.live.flush()

    def _plain(self, line: str) -> None:
        if self.live is None or not self._status:
            self.log(line)
            return
        self.live.write("\r\x1b[K")
        self.log(line)
        self._draw()

    def close(self) -> None:
        """End the live line (nothing to do for plain lines)."""
        with self._lock:
            if self.live is not None and self._status:
                self.live.write("\n")
                self.live.flush()
                self._status = ""


class ProgressFollower:
    """Context manager: follow ``path`` (created empty on entry) and call ``report(line)``
    for every complete line appended to it, until exit (which reports the rest)."""

    def __init__(self, path, report, poll_seconds: float = 0.2):
        self.path, self.report, self.poll_seconds = Path(path), report, poll_seconds
        self._offset = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="coe-progress", daemon=True)

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("")
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._drain()
        return False

    def _follow(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self._drain()

    def _drain(self) -> None:
        try:
            with open(self.path, "rb") as stream:
                stream.seek(self._offset)
                chunk = stream.read()
        except FileNotFoundError:
            return
        complete = chunk.rfind(b"\n") + 1
        self._offset += complete
        for line in chunk[:complete].decode(errors="replace").splitlines():
            self.report(line)
