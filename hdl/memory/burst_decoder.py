"""A master burst of the tier bridge: its region, slave address and error response."""

from amaranth.hdl import Const, Module, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hdl.bus import RESP_DECERR, RESP_OKAY, RESP_SLVERR

__all__ = ["BurstDecoder", "BURST_FIXED"]

BURST_FIXED = 0


class BurstDecoder(wiring.Component):
    """Registers the burst on ``request`` (an AXI AR or AW of master port ``port``) on ``load``.

    The outputs hold it until the next ``load``: ``id``, ``beats``, ``increment``
    (bytes per beat, 0 for FIXED), ``resp`` (OKAY, DECERR outside every region,
    SLVERR for WRAP or a size wider than the master bus), and for an OKAY burst the
    region index ``target`` and the slave address ``addr`` of its first beat, which
    ``step`` advances by ``increment``. ``regions`` are :class:`~.tier_bridge.Region`.
    """

    def __init__(self, regions, *, beat_bytes: int, ports: int, addr_width: int,
                 id_width: int):
        self._regions = list(regions)
        self._beat_bytes = beat_bytes
        super().__init__({
            "request": In(wiring.Signature({
                "port": Out(range(ports)), "id": Out(id_width), "addr": Out(addr_width),
                "len": Out(8), "size": Out(3), "burst": Out(2)})),
            "load": In(1), "step": In(1),
            "port": Out(range(ports)), "id": Out(id_width), "beats": Out(9),
            "increment": Out(range(beat_bytes + 1)),
            "resp": Out(2),   # not OKAY: answered by the bridge
            "target": Out(range(len(self._regions))), "addr": Out(addr_width),
        })

    def elaborate(self, platform):
        m = Module()
        req = self.request
        addr_width = len(self.addr)
        shift = (self._beat_bytes - 1).bit_length()
        beats = req.len + 1
        fixed = req.burst == BURST_FIXED
        # INCR beats after the first are aligned to the size; an unaligned first beat
        # covers the bytes from its address to the next boundary
        aligned = req.addr & ~((Const(1, addr_width) << req.size) - 1)
        end = aligned + (Mux(fixed, 1, beats) << req.size)
        with m.If(self.step):
            m.d.sync += self.addr.eq(self.addr + self.increment)
        with m.If(self.load):
            m.d.sync += [self.port.eq(req.port), self.id.eq(req.id), self.beats.eq(beats),
                         self.increment.eq(Mux(fixed, 0, Const(1, shift + 1) << req.size)),
                         self.resp.eq(RESP_DECERR)]
            for index, region in enumerate(self._regions):
                inside = end <= region.base + region.size
                if region.base:
                    inside &= aligned >= region.base
                with m.If(inside):
                    m.d.sync += [self.target.eq(index), self.resp.eq(RESP_OKAY),
                                 self.addr.eq((aligned - region.base)[:addr_width])]
            with m.If((req.burst == 2) | (req.burst == 3) | (req.size > shift)):
                m.d.sync += self.resp.eq(RESP_SLVERR)
        return m
