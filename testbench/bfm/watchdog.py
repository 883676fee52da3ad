"""Cycle watchdog: fails a test whose streams stop moving."""

from cocotb.triggers import RisingEdge

__all__ = ["Watchdog", "WatchdogTimeout"]


class WatchdogTimeout(AssertionError):
    """No monitored stream moved for too long; the message names the ones that stopped."""


class Watchdog:
    """Raise if no stream end in ``ends`` transfers for ``idle_cycles`` cycles
    while one of them still has work, or if the test runs past ``max_cycles``.

    ``ends`` are :class:`StreamSource` / :class:`StreamSink` objects (anything
    with ``name``, ``count``, ``describe()`` and ``pending`` or ``expecting``).
    """

    def __init__(self, dut, clock, ends, idle_cycles: int = 2000, max_cycles: int | None = None,
                 unit: str | None = None):
        self.dut = dut
        self.clock = clock
        self.ends = list(ends)
        self.idle_cycles = idle_cycles
        self.max_cycles = max_cycles
        self.unit = unit or dut._name
        self.cycles = 0

    def _busy(self, end) -> bool:
        return bool(getattr(end, "pending", 0)) or bool(getattr(end, "expecting", False))

    async def run(self):
        last_total, last_move = -1, 0
        while True:
            await RisingEdge(self.clock)
            self.cycles += 1
            total = sum(end.count for end in self.ends)
            if total != last_total:
                last_total, last_move = total, self.cycles
            busy = [end for end in self.ends if self._busy(end)]
            if busy and self.cycles - last_move > self.idle_cycles:
                waiting = "; ".join(end.describe() for end in busy)
                raise WatchdogTimeout(
                    f"{self.unit}: no stream moved for {self.idle_cycles} cycles (cycle "
                    f"{self.cycles}); stopped: {waiting}")
            if self.max_cycles is not None and self.cycles > self.max_cycles:
                state = "; ".join(end.describe() for end in self.ends)
                raise WatchdogTimeout(f"{self.unit}: exceeded {self.max_cycles} cycles; {state}")
