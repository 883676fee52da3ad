"""Physical channel model: fixed programmable latency, seeded bit flips and dropped flits.

A flit is ``data`` (``width`` bits) with ``sop``/``eop`` framing marks, offered
with ``valid`` every cycle it exists; the channel never back-pressures. Per
valid flit a xorshift32 generator draws ``r``: ``r < flip_threshold`` flips one
data bit (index from a second generator), ``flip_threshold <= r <
flip_threshold + drop_threshold`` drops the flit (the slot arrives empty).
Rates are thresholds / 2**32. The framing marks are never flipped (they model
the sync header of a 64b/66b-style line code; a dropped flit loses them).
Output is the (possibly damaged) flit ``latency`` cycles later.

Counters: flits offered, bits flipped, flits dropped, frames seen (``sop``) and
frames damaged (at least one error between ``sop`` and ``eop``).
"""

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .params import LinkParams
from .wire import FlitWire

__all__ = ["PhysicalChannel", "xorshift32_next"]


def xorshift32_next(state):
    """One step of xorshift32 (13, 17, 5) as a combinational expression."""
    a = state ^ (state << 13)[:32]
    b = a ^ (a >> 17)
    return b ^ (b << 5)[:32]


class PhysicalChannel(wiring.Component):
    """One direction of the wire between two endpoints, with error injection (see module)."""

    def __init__(self, params: LinkParams):
        self._params = params
        w = params.width
        super().__init__({
            "i": In(FlitWire(w)), "o": Out(FlitWire(w)),
            "latency": In(range(params.delay_slots)),
            "flip_threshold": In(32), "drop_threshold": In(32), "seed": In(32),
            "start": In(1),
            "flits": Out(32), "flips": Out(32), "drops": Out(32),
            "frames": Out(32), "frames_damaged": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        p = self._params
        w = p.width
        draw = Signal(32, init=1)
        bit_draw = Signal(32, init=1)
        with m.If(self.start):
            m.d.sync += [draw.eq(self.seed | 1), bit_draw.eq(self.seed ^ 0x9E3779B9 | 1)]
        with m.Elif(self.i.valid):
            m.d.sync += [draw.eq(xorshift32_next(draw)), bit_draw.eq(xorshift32_next(bit_draw))]

        r = Signal(33)
        m.d.comb += r.eq(draw)
        flip = Signal()
        drop = Signal()
        m.d.comb += [
            flip.eq(self.i.valid & (r < self.flip_threshold)),
            drop.eq(self.i.valid & ~flip & (r < self.flip_threshold + self.drop_threshold)),
        ]
        index_bits = max(1, (w - 1).bit_length())
        mask = Signal(w)
        with m.If(flip):
            m.d.comb += mask.eq(Const(1, w) << (bit_draw[:index_bits] % w))

        slots = p.delay_slots
        line = Memory(shape=w + 3, depth=slots, init=[])
        m.submodules.line = line
        write = line.write_port()
        read = line.read_port(domain="comb")
        pointer = Signal(range(slots))
        m.d.sync += pointer.eq(pointer + 1)
        m.d.comb += [
            write.addr.eq(pointer), write.en.eq(1),
            write.data.eq(Cat(self.i.data ^ mask, self.i.sop, self.i.eop, self.i.valid & ~drop)),
            read.addr.eq(pointer - self.latency),
            self.o.data.eq(read.data[:w]), self.o.sop.eq(read.data[w]),
            self.o.eop.eq(read.data[w + 1]), self.o.valid.eq(read.data[w + 2]),
        ]

        damaged = Signal()
        error = flip | drop
        with m.If(self.i.valid):
            m.d.sync += self.flits.eq(self.flits + 1)
            with m.If(self.i.sop):
                m.d.sync += [self.frames.eq(self.frames + 1), damaged.eq(error)]
            with m.Else():
                m.d.sync += damaged.eq(damaged | error)
            with m.If(self.i.eop & ((damaged & ~self.i.sop) | error)):
                m.d.sync += self.frames_damaged.eq(self.frames_damaged + 1)
        with m.If(flip):
            m.d.sync += self.flips.eq(self.flips + 1)
        with m.If(drop):
            m.d.sync += self.drops.eq(self.drops + 1)
        return m
