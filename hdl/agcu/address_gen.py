"""Three-level affine address generator (no multipliers: running sums per level)."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["AffineAddressGenerator"]


class AffineAddressGenerator(wiring.Component):
    """Walks ``base + (i0*stride0 + i1*stride1 + i2*stride2) * beat_bytes``, i0 fastest.

    ``load`` (a pulse) restarts at ``base``; ``done`` is high once every beat has been
    handed out (at once when a bound is 0). ``advance`` with ``beats`` (>= 1) moves on
    that many level-0 steps; ``beats`` > 1 is only allowed when ``stride0 == 1`` and
    ``beats <= row_left`` (a dense burst within one level-0 row). ``addr`` is the
    current beat's byte address, ``row_left`` = bound0 - i0.
    """

    def __init__(self, beat_bytes: int, addr_width: int = 32):
        self._shift = (beat_bytes - 1).bit_length()
        super().__init__({
            "base": In(addr_width),
            "bounds": In(32).array(3),
            "strides": In(32).array(3),
            "load": In(1),
            "advance": In(1),
            "beats": In(8),
            "addr": Out(addr_width),
            "row_left": Out(32),
            "done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        shift = self._shift
        i0, i1, i2 = Signal(32), Signal(32), Signal(32)
        row_start, plane_start = Signal(len(self.addr)), Signal(len(self.addr))
        b0, b1, b2 = self.bounds
        step1, step2 = (stride << shift for stride in self.strides[1:])
        m.d.comb += self.row_left.eq(b0 - i0)

        with m.If(self.load):
            m.d.sync += [i0.eq(0), i1.eq(0), i2.eq(0), self.addr.eq(self.base),
                         row_start.eq(self.base), plane_start.eq(self.base),
                         self.done.eq((b0 == 0) | (b1 == 0) | (b2 == 0))]
        with m.Elif(self.advance & ~self.done):
            next_i0 = i0 + self.beats
            with m.If(next_i0 < b0):
                # beats > 1 only with stride0 == 1, so the step is beats or stride0
                step = Mux(self.beats == 1, self.strides[0], self.beats) << shift
                m.d.sync += [i0.eq(next_i0), self.addr.eq(self.addr + step)]
            with m.Elif(i1 + 1 < b1):
                m.d.sync += [i0.eq(0), i1.eq(i1 + 1), row_start.eq(row_start + step1),
                             self.addr.eq(row_start + step1)]
            with m.Elif(i2 + 1 < b2):
                m.d.sync += [i0.eq(0), i1.eq(0), i2.eq(i2 + 1),
                             plane_start.eq(plane_start + step2),
                             row_start.eq(plane_start + step2),
                             self.addr.eq(plane_start + step2)]
            with m.Else():
                m.d.sync += self.done.eq(1)
        return m
