"""Token collector: merges done tokens that may coincide into one pulse per token.

The AGCU counts done tokens on one wire. Several units can finish in the same
cycle, so the collector adds up the pulses on ``i`` each cycle and releases them
one per cycle on ``o``; no token is lost.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["TokenCollector"]


class TokenCollector(wiring.Component):
    """``width`` token wires in, one token wire out, up to 2**16-1 tokens pending."""

    def __init__(self, width: int):
        if width < 1:
            raise ValueError(f"width must be at least 1, not {width}")
        self._width = width
        super().__init__({"i": In(width), "o": Out(1)})

    def elaborate(self, platform):
        m = Module()
        pending = Signal(16)
        arriving = sum(self.i[k] for k in range(self._width))
        m.d.comb += self.o.eq(pending != 0)
        m.d.sync += pending.eq(pending + arriving - self.o)
        return m
