"""Progress of a running simulation: the cocotb player appends a line to a file as it
finishes a step (``Session.progress``); :class:`ProgressFollower` hands every new line to a
callback from a thread while the simulator runs."""

import threading
from pathlib import Path

__all__ = ["ProgressFollower"]


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
