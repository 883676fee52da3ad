"""Request schedulers: first-come-first-served, and batching by expert within windows.

A scheduler cuts the arrival sequence into windows; the plan routes every request
of a window, then serves the window in ``serve_order``. The order depends only on
the routes, never on what HBM holds, so the whole access sequence is known before
planning (Belady needs it).

* FCFS: windows of one request; served in arrival order.
* Expert batching (window ``W``): windows of ``W`` consecutive arrivals; within a
  window, requests for the same expert are served together, groups ordered by
  their earliest request, arrival order kept inside a group.
"""

__all__ = ["Scheduler", "FCFS", "ExpertBatching", "make_scheduler"]


class Scheduler:
    """Base: windows of ``window`` arrivals, served in the order :meth:`serve_order` gives."""

    name = "scheduler"

    def __init__(self, window: int = 1):
        if window < 1:
            raise ValueError(f"window must be at least 1, not {window}")
        self.window = window

    def windows(self, requests) -> list[list]:
        requests = list(requests)
        return [requests[i:i + self.window] for i in range(0, len(requests), self.window)]

    def serve_order(self, routes) -> list:
        return list(routes)

    def describe(self) -> str:
        return self.name


class FCFS(Scheduler):
    """First come, first served, one request at a time."""

    name = "fcfs"

    def __init__(self):
        super().__init__(1)


class ExpertBatching(Scheduler):
    """Windows of ``window`` arrivals served grouped by expert to cut switches."""

    name = "batch"

    def serve_order(self, routes) -> list:
        groups: dict[str, list] = {}
        for route in routes:
            groups.setdefault(route.expert, []).append(route)
        return [route for group in groups.values() for route in group]

    def describe(self) -> str:
        return f"batch(W={self.window})"


def make_scheduler(name: str, window: int = 8) -> Scheduler:
    """``fcfs`` or ``batch`` (windows of ``window``)."""
    if name == "fcfs":
        return FCFS()
    if name == "batch":
        return ExpertBatching(window)
    raise ValueError(f"unknown scheduler {name!r}; schedulers: fcfs, batch")
