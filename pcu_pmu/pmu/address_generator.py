"""Affine address generator: nested counters that add strides instead of multiplying."""

from amaranth.hdl import Cat, Module, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["AddressGenerator"]


class AddressGenerator(wiring.Component):
    """Visits ``base + sum_k i_k * strides[k]`` (mod 2**addr_width), ``i_0`` fastest.

    ``addr`` is the current address and ``last`` flags the final one of a sweep.
    ``step`` moves to the next address (after the last one the sweep restarts at
    ``base``); ``load`` restarts at ``base`` and wins over ``step``. Each level
    keeps its own running address, so one step costs one adder per level.
    """

    def __init__(self, levels: int = 3, addr_width: int = 32, count_width: int = 16,
                 stride_width: int = 16):
        if levels < 1:
            raise ValueError(f"levels must be at least 1, not {levels}")
        if stride_width > addr_width:
            raise ValueError(f"stride_width {stride_width} exceeds addr_width {addr_width}")
        self._levels = levels
        self._addr_width = addr_width
        super().__init__({
            "load": In(1),
            "step": In(1),
            "base": In(unsigned(addr_width)),
            "bounds": In(data.ArrayLayout(unsigned(count_width), levels)),
            "strides": In(data.ArrayLayout(signed(stride_width), levels)),
            "addr": Out(unsigned(addr_width)),
            "last": Out(1),
        })

    @property
    def levels(self) -> int:
        return self._levels

    def elaborate(self, platform):
        m = Module()
        levels, width = self._levels, self._addr_width
        count = [Signal.like(self.bounds[k], name=f"i{k}") for k in range(levels)]
        running = [Signal(width, name=f"a{k}") for k in range(levels)]
        wrap = [count[k] == self.bounds[k] - 1 for k in range(levels)]
        advanced = [Signal(width, name=f"a{k}_next") for k in range(levels)]
        for k in range(levels):
            m.d.comb += advanced[k].eq(running[k] + self.strides[k])
        m.d.comb += [self.addr.eq(running[0]), self.last.eq(Cat(*wrap).all())]

        with m.If(self.load):
            m.d.sync += [c.eq(0) for c in count] + [a.eq(self.base) for a in running]
        with m.Elif(self.step):
            # The lowest level that does not wrap counts up; every level below it
            # restarts at that level's new running address.
            for k in range(levels):
                with (m.If if k == 0 else m.Elif)(~wrap[k]):
                    m.d.sync += count[k].eq(count[k] + 1)
                    m.d.sync += [count[j].eq(0) for j in range(k)]
                    m.d.sync += [running[j].eq(advanced[k]) for j in range(k + 1)]
            with m.Else():
                m.d.sync += [c.eq(0) for c in count] + [a.eq(self.base) for a in running]
        return m
