"""A fractional clock enable: high on ``numerator`` of every ``denominator`` cycles."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

__all__ = ["FractionalClockEnable"]


class FractionalClockEnable(wiring.Component):
    """Bresenham rate generator: ``enable`` is high on exactly ``numerator`` cycles of
    every ``denominator`` consecutive cycles after reset, spread as evenly as possible
    (any window of L cycles holds floor or ceil of L * numerator / denominator enables).

    A slower clock domain is modelled as the fabric clock gated by ``enable``.
    """

    def __init__(self, numerator: int, denominator: int):
        if not 1 <= numerator <= denominator:
            raise ValueError(f"clock enable rate must satisfy 1 <= numerator <= denominator, "
                             f"not {numerator}/{denominator}")
        self._numerator = numerator
        self._denominator = denominator
        super().__init__({"enable": Out(1)})

    def elaborate(self, platform):
        m = Module()
        k, n = self._numerator, self._denominator
        if k == n:
            m.d.comb += self.enable.eq(1)
            return m
        accumulator = Signal(range(n))
        total = Signal(range(n + k))
        m.d.comb += [total.eq(accumulator + k), self.enable.eq(total >= n)]
        m.d.sync += accumulator.eq(Mux(self.enable, total - n, total))
        return m
