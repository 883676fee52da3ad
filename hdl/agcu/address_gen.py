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
    current beat's byte address, ``row_left`` = bound0 - i0 (valid from ``load`` on).
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
        # Down-counters of what is left at each level rather than indices compared
        # against the bounds: the advance decision is then a compare of row_left with
        # ``beats`` and two zero tests, not a 32-bit add and compare in a row (FPGA fmax).
        rows_left, planes_left = Signal(32), Signal(32)  # after the current row / plane
        row_start, plane_start = Signal(len(self.addr)), Signal(len(self.addr))
        b0, b1, b2 = self.bounds
        step1, step2 = (stride << shift for stride in self.strides[1:])

        with m.If(self.load):
            m.d.sync += [self.row_left.eq(b0), rows_left.eq(b1 - 1), planes_left.eq(b2 - 1),
                         self.addr.eq(self.base), row_start.eq(self.base),
                         plane_start.eq(self.base),
                         self.done.eq((b0 == 0) | (b1 == 0) | (b2 == 0))]
        with m.Elif(self.advance & ~self.done):
            with m.If(self.row_left > self.beats):
                # beats > 1 only with stride0 == 1, so the step is beats or stride0
                step = Mux(self.beats == 1, self.strides[0], self.beats) << shift
                m.d.sync += [self.row_left.eq(self.row_left - self.beats),
                             self.addr.eq(self.addr + step)]
            with m.Elif(rows_left != 0):
                m.d.sync += [self.row_left.eq(b0), rows_left.eq(rows_left - 1),
                             row_start.eq(row_start + step1), self.addr.eq(row_start + step1)]
            with m.Elif(planes_left != 0):
                m.d.sync += [self.row_left.eq(b0), rows_left.eq(b1 - 1),
                             planes_left.eq(planes_left - 1),
                             plane_start.eq(plane_start + step2),
                             row_start.eq(plane_start + step2),
                             self.addr.eq(plane_start + step2)]
            with m.Else():
                m.d.sync += self.done.eq(1)
        return m
