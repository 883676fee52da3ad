"""Credit-based link: signature, sender adapter, receiver buffer and passive checker.

A link, seen from the sender, is ``valid: Out(1)``, ``flit: Out(layout)`` and
``credit: In(1)``. The receiver owns a buffer of ``depth`` flits and pulses
``credit`` once per slot it frees; the sender starts with ``depth`` credits,
spends one per flit and only sends with credit > 0. There is no ready signal:
a flit on a valid link is always written into the receiver's buffer.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["CreditLinkSignature", "CreditSender", "CreditReceiver", "CreditChecker"]


class CreditLinkSignature(wiring.Signature):
    """One credit-flow-controlled link carrying flits of ``layout`` (sender's view)."""

    def __init__(self, layout):
        self._layout = layout
        super().__init__({
            "valid": Out(1),
            "flit": Out(layout),
            "credit": In(1),
        })

    @property
    def layout(self):
        return self._layout

    def __eq__(self, other):
        return isinstance(other, CreditLinkSignature) and self._layout == other._layout

    def __repr__(self):
        return f"CreditLinkSignature({self._layout!r})"


def _check_depth(depth):
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"buffer depth must be a positive integer, not {depth!r}")


class CreditSender(wiring.Component):
    """Turns a valid/ready stream into a credit link to a buffer of ``depth`` flits.

    ``i.ready`` is high while the credit counter is non-zero; ``credits`` shows it.
    """

    def __init__(self, layout, depth: int):
        _check_depth(depth)
        self._depth = depth
        super().__init__({
            "i": In(stream.Signature(layout)),
            "o": Out(CreditLinkSignature(layout)),
            "credits": Out(range(depth + 1), init=depth),
        })

    def elaborate(self, platform):
        m = Module()
        send = Signal()
        m.d.comb += [
            self.i.ready.eq(self.credits != 0),
            send.eq(self.i.valid & self.i.ready),
            self.o.valid.eq(send),
            self.o.flit.eq(self.i.payload),
        ]
        m.d.sync += self.credits.eq(self.credits + self.o.credit - send)
        return m


class CreditReceiver(wiring.Component):
    """A ``depth``-flit buffer at the end of a credit link, read as a valid/ready stream.

    Every pop pulses ``i.credit`` in the same cycle. ``overflow`` is high in any
    cycle the link writes while the buffer is full (the flit is dropped).
    """

    def __init__(self, layout, depth: int):
        _check_depth(depth)
        self._depth = depth
        super().__init__({
            "i": In(CreditLinkSignature(layout)),
            "o": Out(stream.Signature(layout)),
            "overflow": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        width = self.i.flit.as_value().shape().width
        m.submodules.buffer = buffer = fifo.SyncFIFO(width=width, depth=self._depth)
        m.d.comb += [
            buffer.w_en.eq(self.i.valid),
            buffer.w_data.eq(self.i.flit),
            self.overflow.eq(self.i.valid & ~buffer.w_rdy),
            self.o.valid.eq(buffer.r_rdy),
            self.o.payload.eq(buffer.r_data),
            buffer.r_en.eq(self.o.ready),
            self.i.credit.eq(self.o.ready & buffer.r_rdy),
        ]
        return m


class CreditChecker(wiring.Component):
    """Passive checker of one link: counts flits outstanding (sent, credit not yet back).

    ``error`` is sticky; it is set when more than ``depth`` flits are outstanding
    or a credit comes back while none is outstanding.
    """

    def __init__(self, depth: int):
        _check_depth(depth)
        self._depth = depth
        super().__init__({
            "valid": In(1),
            "credit": In(1),
            "error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        outstanding = Signal(range(self._depth + 2))
        after_send = Signal.like(outstanding)
        m.d.comb += after_send.eq(outstanding + self.valid)
        with m.If(self.credit & (outstanding == 0)):
            m.d.sync += self.error.eq(1)
        with m.If(after_send > self._depth):
            m.d.sync += self.error.eq(1)
        with m.If(after_send <= self._depth):  # saturate: the error is already latched
            m.d.sync += outstanding.eq(after_send - (self.credit & (outstanding != 0)))
        return m
