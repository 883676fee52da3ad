"""Performance counters of one unit: busy, stalled on input, stalled on output.

* ``busy``: cycles the unit reported itself busy.
* ``input_stall``: busy cycles in which the unit could take a vector but none came
  (its input FIFO was ready and the network offered nothing).
* ``output_stall``: cycles a vector waited at the unit's output because the
  network could not take it.

The counters run from reset (32 bits, wrapping); the host takes differences.
"""

from amaranth.hdl import Module
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["UnitCounters", "COUNTERS_PER_UNIT"]

COUNTERS_PER_UNIT = 3


class UnitCounters(wiring.Component):
    """Three cycle counters fed by a unit's ``busy`` level and its vector port handshakes."""

    busy: In(1)
    in_valid: In(1)
    in_ready: In(1)
    out_valid: In(1)
    out_ready: In(1)
    counts: Out(data.ArrayLayout(32, COUNTERS_PER_UNIT))
    events: Out(COUNTERS_PER_UNIT)  # this cycle's increments, for testbenches to count too

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [
            self.events[0].eq(self.busy),
            self.events[1].eq(self.busy & self.in_ready & ~self.in_valid),
            self.events[2].eq(self.out_valid & ~self.out_ready),
        ]
        for k in range(COUNTERS_PER_UNIT):
            with m.If(self.events[k]):
                m.d.sync += self.counts[k].eq(self.counts[k] + 1)
        return m
