"""Output tag: turns a unit's plain output stream into network flits of one flow.

Configured with one word (``flow`` in bits 0-5, ``first_seq`` in bits 8-15);
each beat leaves as a flit of that flow with ``seq`` counting up from
``first_seq`` (mod 256). A new configuration word restarts the count. Units
carry no end-of-tensor marker, so ``last`` is 0.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.network.flit import flit_layout

__all__ = ["OutputTag", "tag_word"]


def tag_word(flow: int, first_seq: int = 0) -> int:
    """The configuration word of an :class:`OutputTag`."""
    if not 0 <= flow < 64:
        raise ValueError(f"flow {flow} does not fit in 6 bits")
    if not 0 <= first_seq < 256:
        raise ValueError(f"first_seq {first_seq} does not fit in 8 bits")
    return first_seq << 8 | flow


class OutputTag(wiring.Component):
    """Adds ``flow``/``seq`` to every beat from ``i``; one configuration word on ``cfg``."""

    def __init__(self, data_width: int):
        self._layout = flit_layout(data_width)
        super().__init__({
            "cfg": In(stream.Signature(32)),
            "i": In(stream.Signature(data_width)),
            "o": Out(stream.Signature(self._layout)),
        })

    def elaborate(self, platform):
        m = Module()
        flow = Signal(6)
        seq = Signal(8)
        m.d.comb += [
            self.cfg.ready.eq(1),
            self.o.payload.data.eq(self.i.payload),
            self.o.payload.flow.eq(flow),
            self.o.payload.seq.eq(seq),
            self.o.valid.eq(self.i.valid),
            self.i.ready.eq(self.o.ready),
        ]
        with m.If(self.cfg.valid):
            m.d.sync += [flow.eq(self.cfg.payload[:6]), seq.eq(self.cfg.payload[8:16])]
        with m.Elif(self.o.valid & self.o.ready):
            m.d.sync += seq.eq(seq + 1)
        return m
