"""Several copies of one arithmetic unit sharing a single stream."""

from amaranth.hdl import Module
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["LaneArray"]


class LaneArray(wiring.Component):
    """``lanes`` copies of a pipelined unit in lockstep behind one valid/ready stream.

    The payload of each direction is an array with lane 0 in the low bits. All
    copies see the same valid and ready, so their pipelines stay in step and
    lane 0's handshake stands for every lane.
    """

    def __init__(self, make_unit, lanes: int):
        if lanes < 1:
            raise ValueError(f"lanes must be at least 1, not {lanes}")
        self._units = [make_unit() for _ in range(lanes)]
        unit = self._units[0]
        self.latency = unit.latency
        i_shape = unit.i.payload.shape()
        o_shape = unit.o.payload.shape()
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(i_shape, lanes))),
            "o": Out(stream.Signature(data.ArrayLayout(o_shape, lanes))),
        })

    @property
    def lanes(self) -> int:
        return len(self._units)

    def elaborate(self, platform):
        m = Module()
        for n, unit in enumerate(self._units):
            m.submodules[f"lane{n}"] = unit
            m.d.comb += [
                unit.i.valid.eq(self.i.valid),
                unit.i.payload.eq(self.i.payload[n]),
                unit.o.ready.eq(self.o.ready),
                self.o.payload[n].eq(unit.o.payload),
            ]
        m.d.comb += [self.i.ready.eq(self._units[0].i.ready),
                     self.o.valid.eq(self._units[0].o.valid)]
        return m
