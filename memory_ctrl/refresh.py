"""All-bank refresh timing of one DRAM channel."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["RefreshTimer"]


class RefreshTimer(wiring.Component):
    """Raises ``pending`` every ``interval`` cycles (tREFI) until ``done`` (a REF issued).

    Refresh is never postponed: while ``pending`` is high the controller issues no
    new ACT or column command.
    """

    def __init__(self, interval: int):
        self._interval = interval
        super().__init__({"done": In(1), "pending": Out(1)})

    def elaborate(self, platform):
        m = Module()
        last = self._interval - 1
        count = Signal(range(self._interval))
        m.d.sync += count.eq(Mux(count == last, 0, count + 1))
        with m.If(count == last):
            m.d.sync += self.pending.eq(1)
        with m.Elif(self.done):
            m.d.sync += self.pending.eq(0)
        return m
