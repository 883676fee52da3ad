"""A register stage on both halves of a credit link, to cut timing paths between switches.

Forward, ``valid`` and ``flit`` are registered; backward, ``credit`` is. The
sender still spends a credit per flit and the receiver still returns one per
pop, so at most ``depth`` flits are ever between the sender's counter and the
receiver's buffer (in the register or in the buffer) and the buffer can never
overflow: a late credit only makes the sender wait longer. The stage adds a
cycle to the latency of every flit and two to the credit round trip (sender
counter -> buffer -> pop -> counter: 4 cycles instead of 2), so a link whose
buffer is shallower than 4 flits carries at most depth / 4 flits per cycle.
"""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .credit_link import CreditLinkSignature

__all__ = ["LinkRegister"]


class LinkRegister(wiring.Component):
    """``o.valid``, ``o.flit`` and ``i.credit`` are ``i.valid``, ``i.flit``, ``o.credit``
    one cycle late."""

    def __init__(self, layout):
        super().__init__({
            "i": In(CreditLinkSignature(layout)),
            "o": Out(CreditLinkSignature(layout)),
        })

    def elaborate(self, platform):
        m = Module()
        m.d.sync += [
            self.o.valid.eq(self.i.valid),
            self.o.flit.eq(self.i.flit),
            self.i.credit.eq(self.o.credit),
        ]
        return m
