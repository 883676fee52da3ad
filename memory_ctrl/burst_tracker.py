"""One AXI4 burst at a time on a memory tier's read or write address channel."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hdl.bus import BURST_INCR, RESP_DECERR, RESP_OKAY, RESP_SLVERR

__all__ = ["BurstTracker"]


class BurstTracker(wiring.Component):
    """Takes a burst from ``request`` (an AXI AR or AW channel) and steps through its beats.

    A burst is checked when taken: ``resp`` is SLVERR for a burst type, size or
    alignment the tier does not support (full-width INCR bursts, or one narrow
    beat aligned to its size), DECERR past ``capacity`` bytes, else OKAY; a
    taken burst that is not OKAY pulses ``rejected``. While ``busy``, ``addr`` is
    the current beat's address and ``lanes`` the atoms of the beat it touches;
    ``step`` moves to the next beat (``last``: this was the final one). A new
    burst may be taken in the cycle the previous one's last beat steps.
    """

    def __init__(self, *, capacity: int, beat_bytes: int, atom_bytes: int, addr_width: int,
                 id_width: int):
        self._capacity = capacity
        self._beat_bytes = beat_bytes
        self._atom_bytes = atom_bytes
        self._lanes = beat_bytes // atom_bytes
        super().__init__({
            "request": In(wiring.Signature({
                "valid": Out(1), "addr": Out(addr_width), "len": Out(8), "size": Out(3),
                "burst": Out(2), "id": Out(id_width), "ready": In(1)})),
            "step": In(1),
            "busy": Out(1), "addr": Out(addr_width), "last": Out(1), "id": Out(id_width),
            "resp": Out(2), "lanes": Out(self._lanes), "rejected": Out(1),
        })

    def _classify(self, addr, length, size, burst):
        beat_shift = (self._beat_bytes - 1).bit_length()
        end = addr + ((length + 1) << size)
        out_of_range = end > self._capacity
        misaligned = (addr & ((Const(1, 16) << size) - 1)) != 0
        unsupported = ((burst != BURST_INCR) | (size > beat_shift)
                       | ((size != beat_shift) & (length != 0)) | misaligned)
        return Mux(unsupported, RESP_SLVERR, Mux(out_of_range, RESP_DECERR, RESP_OKAY))

    def _lane_mask(self, addr, size):
        """Lanes (atoms of the beat) that a transfer of 2**size bytes at addr touches."""
        if self._lanes == 1:
            return Const(1, 1)
        atom_shift = (self._atom_bytes - 1).bit_length()
        beat_shift = (self._beat_bytes - 1).bit_length()
        lane = addr[atom_shift:beat_shift]
        span = Mux(size > atom_shift, (size - atom_shift).as_unsigned()[:3], 0)
        return Cat(*((((k ^ lane) >> span) == 0) for k in range(self._lanes)))

    def elaborate(self, platform):
        m = Module()
        req = self.request
        left = Signal(8)
        take = req.valid & req.ready
        verdict = self._classify(req.addr, req.len, req.size, req.burst)
        m.d.comb += [self.last.eq(left == 0),
                     self.rejected.eq(take & (verdict != RESP_OKAY)),
                     req.ready.eq(~self.busy | (self.step & (left == 0)))]
        with m.If(self.step):
            m.d.sync += [self.addr.eq(self.addr + self._beat_bytes), left.eq(left - 1)]
            with m.If(left == 0):
                m.d.sync += self.busy.eq(0)
        with m.If(take):
            m.d.sync += [self.busy.eq(1), self.addr.eq(req.addr), left.eq(req.len),
                         self.id.eq(req.id), self.resp.eq(verdict),
                         self.lanes.eq(self._lane_mask(req.addr, req.size))]
        return m
