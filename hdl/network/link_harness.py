"""Test design: one credit link with optional injected faults, to prove the checker fires.

``LinkHarness`` = stream ``i`` -> sender -> credit link -> receiver buffer -> stream
``o``, with a :class:`~hdl.network.credit_link.CreditChecker` on the link and the
sticky ``credit_error`` output the mesh also has. ``fault`` selects a broken part
that exists only in this harness, never in the mesh:

* ``"none"``: the real :class:`CreditSender` (the checker must stay quiet).
* ``"over_send"``: a sender that ignores credits and sends whenever it has a flit.
* ``"extra_credit"``: the receiver's credit line also pulses once, spuriously,
  in the first cycle after reset.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .credit_link import CreditChecker, CreditLinkSignature, CreditReceiver, CreditSender
from .flit import flit_layout

__all__ = ["LinkHarness", "make_link_harness", "FAULTS"]

FAULTS = ("none", "over_send", "extra_credit")


class _CreditIgnoringSender(wiring.Component):
    """Broken on purpose: forwards every flit at once, whatever the credit."""

    def __init__(self, layout):
        super().__init__({
            "i": In(stream.Signature(layout)),
            "o": Out(CreditLinkSignature(layout)),
        })

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [
            self.i.ready.eq(1),
            self.o.valid.eq(self.i.valid),
            self.o.flit.eq(self.i.payload),
        ]
        return m


class LinkHarness(wiring.Component):
    """One link of ``depth`` credits carrying ``flit_layout(data_width)`` flits."""

    def __init__(self, data_width: int, depth: int, fault: str = "none"):
        if fault not in FAULTS:
            raise ValueError(f"fault must be one of {FAULTS}, not {fault!r}")
        self._layout = flit_layout(data_width)
        self._depth = depth
        self._fault = fault
        super().__init__({
            "i": In(stream.Signature(self._layout)),
            "o": Out(stream.Signature(self._layout)),
            "credit_error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        if self._fault == "over_send":
            sender = _CreditIgnoringSender(self._layout)
        else:
            sender = CreditSender(self._layout, self._depth)
        m.submodules.sender = sender
        m.submodules.receiver = receiver = CreditReceiver(self._layout, self._depth)
        m.submodules.checker = checker = CreditChecker(self._depth)
        wiring.connect(m, wiring.flipped(self.i), sender.i)
        wiring.connect(m, receiver.o, wiring.flipped(self.o))
        credit = Signal()
        spurious = Signal()
        if self._fault == "extra_credit":
            fired = Signal()
            m.d.sync += fired.eq(1)
            m.d.comb += spurious.eq(~fired)
        m.d.comb += [
            receiver.i.valid.eq(sender.o.valid),
            receiver.i.flit.eq(sender.o.flit),
            credit.eq(receiver.i.credit | spurious),
            sender.o.credit.eq(credit),
            checker.valid.eq(sender.o.valid),
            checker.credit.eq(credit),
        ]
        with m.If(checker.error | receiver.overflow):
            m.d.sync += self.credit_error.eq(1)
        return m


def make_link_harness(data_width: int, depth: int, fault: str = "none") -> LinkHarness:
    """Factory for the build cache."""
    return LinkHarness(data_width, depth, fault)
