"""Passive checker of pipeline-stage credits: no unit starts more passes than it was granted.

Watches one PMU from outside its credit logic: ``configured`` (a configuration
takes effect: the balance restarts at ``initial`` plus a token arriving in that
cycle), ``enabled`` (the configuration's ``read_credits``), ``credit`` (a token
on the unit's credit line), ``start`` (a read pass starts). ``error`` goes high,
and stays high, if a pass starts with credits enabled while the balance of
tokens granted minus passes started is zero.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["StageCreditChecker"]


class StageCreditChecker(wiring.Component):
    """Sticky ``error`` when passes started would exceed ``initial`` + tokens received."""

    configured: In(1)
    enabled: In(1)
    initial: In(8)
    credit: In(1)
    start: In(1)
    error: Out(1)

    def elaborate(self, platform):
        m = Module()
        balance = Signal(17)
        with m.If(self.configured):
            m.d.sync += balance.eq(self.initial + self.credit)
        with m.Else():
            spent = self.start & self.enabled
            with m.If(spent & (balance == 0)):
                m.d.sync += self.error.eq(1)
            m.d.sync += balance.eq(balance + self.credit - spent)
        return m
