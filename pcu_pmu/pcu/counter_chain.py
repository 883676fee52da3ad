"""Nested loop counters that sequence the PCU."""

from amaranth.hdl import Cat, Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["CounterChain", "CounterSettings"]

CounterSettings = data.StructLayout({"bound": 16, "stride": signed(16), "start": signed(32)})


class CounterChain(wiring.Component):
    """``depth`` nested counters; counter 0 is the innermost (fastest) loop.

    Counter k runs index 0 .. bound-1 with value ``start + index * stride``
    (int32, wrapping). ``load`` restarts every counter; ``step`` moves to the
    next point (after the last point of the space the chain wraps to the first).
    ``first``/``last_inner`` flag the first/last point of the innermost loop and
    ``last`` the last point of the whole space. Bounds must be at least 1.
    """

    def __init__(self, depth: int = 3):
        if depth < 1:
            raise ValueError(f"depth must be at least 1, not {depth}")
        self._depth = depth
        super().__init__({
            "settings": In(data.ArrayLayout(CounterSettings, depth)),
            "load": In(1),
            "step": In(1),
            "value": Out(data.ArrayLayout(32, depth)),
            "first": Out(1),
            "last_inner": Out(1),
            "last": Out(1),
        })

    @property
    def depth(self) -> int:
        return self._depth

    def elaborate(self, platform):
        m = Module()
        index = [Signal(16, name=f"index{k}") for k in range(self._depth)]
        at_end = [index[k] == self.settings[k].bound - 1 for k in range(self._depth)]
        values = [Signal(32, name=f"value{k}") for k in range(self._depth)]
        m.d.comb += [self.value[k].eq(values[k]) for k in range(self._depth)]
        m.d.comb += [
            self.first.eq(index[0] == 0),
            self.last_inner.eq(at_end[0]),
            self.last.eq(Cat(*at_end).all()),
        ]
        with m.If(self.load):
            for k in range(self._depth):
                m.d.sync += [index[k].eq(0), values[k].eq(self.settings[k].start)]
        with m.Elif(self.step):
            for k in range(self._depth):
                # Counter k moves when every inner counter wraps on this step.
                moves = Cat(*at_end[:k]).all() if k else 1
                with m.If(moves):
                    with m.If(at_end[k]):
                        m.d.sync += [index[k].eq(0), values[k].eq(self.settings[k].start)]
                    with m.Else():
                        m.d.sync += [index[k].eq(index[k] + 1),
                                     values[k].eq(values[k] + self.settings[k].stride)]
        return m
