"""Two flit streams into one, alternating priority when both offer (nothing lost)."""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["FlitMerge"]


class FlitMerge(wiring.Component):
    """Round-robin merge of ``a`` and ``b`` into ``o``; a flit is never split or repeated."""

    def __init__(self, layout):
        super().__init__({
            "a": In(stream.Signature(layout)),
            "b": In(stream.Signature(layout)),
            "o": Out(stream.Signature(layout)),
        })

    def elaborate(self, platform):
        m = Module()
        prefer_b = Signal()
        take_b = self.b.valid & (prefer_b | ~self.a.valid)
        with m.If(take_b):
            m.d.comb += [self.o.payload.eq(self.b.payload), self.o.valid.eq(1),
                         self.b.ready.eq(self.o.ready)]
        with m.Else():
            m.d.comb += [self.o.payload.eq(self.a.payload), self.o.valid.eq(self.a.valid),
                         self.a.ready.eq(self.o.ready)]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += prefer_b.eq(~take_b)
        return m
