"""When the link transmitter sends a control frame (ACK, NAK and credits of the local receiver)."""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .params import COUNT_BITS, SEQ_BITS

__all__ = ["ControlScheduler"]


class ControlScheduler(wiring.Component):
    """Raises ``due`` when a control frame should go out; ``sent`` reports that one did.

    A frame is due when the receiver's state (``rx_expected``, ``rx_freed``)
    changed since the last one and has settled, a NAK (``nak``) or an ACK was
    requested, or ``refresh`` cycles passed; at most one every ``ctrl_interval``
    cycles, except that one owing the peer an ACK or a NAK goes at once while no
    data frame waits for the wire (``data_waiting`` low). See
    :mod:`.transmitter` for the policy.
    """

    def __init__(self, vcs: int):
        self._vcs = vcs
        super().__init__({
            "rx_expected": In(SEQ_BITS), "rx_freed": In(COUNT_BITS).array(vcs),
            "rx_draining": In(1), "nak_request": In(1), "ack_request": In(1),
            "data_waiting": In(1), "ctrl_interval": In(8), "refresh": In(16),
            "sent": In(1),
            "due": Out(1), "nak": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        vcs = self._vcs
        nak_pending = self.nak
        force_pending = Signal()
        interval = Signal(8)
        refresh = Signal(16)
        last_expected = Signal(SEQ_BITS)
        last_freed = [Signal(COUNT_BITS, name=f"last_freed{v}") for v in range(vcs)]
        dirty = Signal()
        m.d.comb += dirty.eq((self.rx_expected != last_expected) | Cat(
            self.rx_freed[v] != last_freed[v] for v in range(vcs)).any())
        # ``stale``: cycles the receiver's state has differed from the last control frame.
        # A change is reported once the local user drains nothing in a cycle (the rest of
        # a data frame's credits would follow within cycles) or after ``ctrl_interval``.
        stale = Signal(8)
        settled = Signal()
        m.d.comb += settled.eq(~self.rx_draining | (stale + 1 >= self.ctrl_interval))
        with m.If(dirty & (stale != 255)):
            m.d.sync += stale.eq(stale + 1)
        # An ACK is owed once a data frame was committed since the last control frame (or
        # asked for), a NAK once asked for; neither waits for the interval while no data
        # frame of ours waits for the wire.
        early = Signal()
        m.d.comb += early.eq(((self.rx_expected != last_expected) | nak_pending | force_pending)
                             & ~self.data_waiting)
        m.d.comb += self.due.eq(((interval == 0) | early) & (
            nak_pending | force_pending | (dirty & settled) | (refresh == 0)))
        with m.If(interval != 0):
            m.d.sync += interval.eq(interval - 1)
        with m.If(refresh != 0):
            m.d.sync += refresh.eq(refresh - 1)
        with m.If(self.nak_request):
            m.d.sync += nak_pending.eq(1)
        with m.If(self.ack_request):
            m.d.sync += force_pending.eq(1)
        # Last, so that a frame sent clears a request arriving in the same cycle.
        with m.If(self.sent):
            m.d.sync += [nak_pending.eq(0), force_pending.eq(0),
                         interval.eq(self.ctrl_interval), stale.eq(0),
                         refresh.eq(self.refresh), last_expected.eq(self.rx_expected)]
            for v in range(vcs):
                m.d.sync += last_freed[v].eq(self.rx_freed[v])
        return m
