"""Runs a valid/ready unit from block-RAM buffers that a bus fills and reads back."""

from amaranth.hdl import Const, Module, Mux, Shape, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .bus import BusSignature

__all__ = ["StreamHarness", "IN_BASE", "OUT_BASE", "CSR_BASE", "CSR"]

IN_BASE, OUT_BASE, CSR_BASE = 0x0000, 0x4000, 0x8000
REGION_WORDS = 0x4000
# Control/status registers, word offsets from CSR_BASE.
CSR = {"DEPTH": 0, "WORDS": 1, "COUNT": 2, "STATUS": 3, "CYCLES": 4, "MAGIC": 5}
MAGIC = 0x52445546  # "RDUF"


def _words(width: int) -> int:
    return (width + 31) // 32


def _pow2_at_least(n: int) -> int:
    return 1 << (n - 1).bit_length()


class StreamHarness(wiring.Component):
    """Feeds entries ``0 .. COUNT-1`` of an input buffer into ``unit``'s stream ``i`` and
    stores its ``o`` beats in an output buffer, between a ``start`` pulse and ``busy`` falling.

    Bus word map: input entry ``e`` word ``w`` at ``IN_BASE + e * in_stride + w``
    (write-only), output entry ``e`` word ``w`` at ``OUT_BASE + e * out_stride + w``
    (read-only), registers at ``CSR_BASE + CSR[name]``: DEPTH (entries per buffer),
    WORDS (in words | out words << 8 | in stride << 16 | out stride << 24), COUNT
    (entries to run), STATUS (bit 0 busy), CYCLES (clock cycles of the last run),
    MAGIC. Strides are the word counts rounded up to powers of two.
    """

    def __init__(self, unit, depth: int = 512):
        if depth < 2 or depth & (depth - 1):
            raise ValueError(f"depth must be a power of two >= 2, not {depth}")
        self._unit = unit
        self._in_width = Shape.cast(unit.i.payload.shape()).width
        self._out_width = Shape.cast(unit.o.payload.shape()).width
        self._in_words, self._out_words = _words(self._in_width), _words(self._out_width)
        self._in_stride = _pow2_at_least(self._in_words)
        self._out_stride = _pow2_at_least(self._out_words)
        if depth * max(self._in_stride, self._out_stride) > REGION_WORDS:
            raise ValueError(f"depth {depth} x {max(self._in_stride, self._out_stride)} words "
                             f"per entry exceeds the {REGION_WORDS}-word buffer region")
        self._depth = depth
        super().__init__({"bus": In(BusSignature()), "start": In(1), "busy": Out(1)})

    @property
    def depth(self) -> int:
        return self._depth

    @property
    def in_words(self) -> int:
        return self._in_words

    @property
    def out_words(self) -> int:
        return self._out_words

    def elaborate(self, platform):
        m = Module()
        unit, bus = self._unit, self.bus
        m.submodules.unit = unit
        m.submodules.in_mem = in_mem = Memory(shape=self._in_words * 32, depth=self._depth,
                                              init=[])
        m.submodules.out_mem = out_mem = Memory(shape=self._out_words * 32, depth=self._depth,
                                                init=[])
        in_w = in_mem.write_port(granularity=32)
        in_r = in_mem.read_port()
        out_w = out_mem.write_port()
        out_r = out_mem.read_port()

        count = Signal(range(self._depth + 1))
        issued = Signal(range(self._depth + 1))
        received = Signal(range(self._depth + 1))
        cycles = Signal(32)
        in_valid = Signal()

        # Feeder: the read port's output register is the stream's payload register.
        advance = ~in_valid | unit.i.ready
        m.d.comb += [in_r.addr.eq(issued), in_r.en.eq(advance),
                     unit.i.valid.eq(in_valid), unit.i.payload.eq(in_r.data)]
        with m.If(advance):
            with m.If(self.busy & (issued < count)):
                m.d.sync += [issued.eq(issued + 1), in_valid.eq(1)]
            with m.Else():
                m.d.sync += in_valid.eq(0)

        # Collector: the output buffer always accepts.
        m.d.comb += [unit.o.ready.eq(1), out_w.addr.eq(received), out_w.data.eq(unit.o.payload),
                     out_w.en.eq(unit.o.valid & self.busy)]
        with m.If(self.busy):
            m.d.sync += cycles.eq(cycles + 1)
            with m.If(unit.o.valid):
                m.d.sync += received.eq(received + 1)
                with m.If(received + 1 == count):
                    m.d.sync += self.busy.eq(0)
        with m.Elif(self.start & (count != 0)):
            m.d.sync += [self.busy.eq(1), issued.eq(0), received.eq(0), cycles.eq(0)]

        # Bus.
        in_shift = (self._in_stride - 1).bit_length()
        out_shift = (self._out_stride - 1).bit_length()
        region = bus.addr[14:16]
        in_word = bus.addr[:in_shift] if in_shift else Const(0, 1)
        m.d.comb += [in_w.addr.eq(bus.addr[in_shift:14]), in_w.data.eq(bus.w_data.replicate(
            self._in_words))]
        with m.If(bus.w_en & (region == 0)):
            m.d.comb += in_w.en.eq(1 << in_word)
        with m.If(bus.w_en & (bus.addr == CSR_BASE + CSR["COUNT"]) & ~self.busy):
            m.d.sync += count.eq(bus.w_data)

        m.d.comb += [out_r.addr.eq(bus.addr[out_shift:14]), out_r.en.eq(bus.r_en)]
        r_region, r_word, r_csr = Signal(2), Signal(max(out_shift, 1)), Signal(32)
        words = (self._in_words | self._out_words << 8 | self._in_stride << 16
                 | self._out_stride << 24)
        csr_value = Signal(32)
        with m.Switch(bus.addr[:3]):
            for name, value in [("DEPTH", self._depth), ("WORDS", words), ("COUNT", count),
                                ("STATUS", self.busy), ("CYCLES", cycles), ("MAGIC", MAGIC)]:
                with m.Case(CSR[name]):
                    m.d.comb += csr_value.eq(value)
        with m.If(bus.r_en):
            m.d.sync += [r_region.eq(region), r_csr.eq(Mux(bus.addr[3:14] == 0, csr_value, 0))]
            if out_shift:
                m.d.sync += r_word.eq(bus.addr[:out_shift])
        out_words = out_r.data.word_select(r_word, 32) if out_shift else out_r.data[:32]
        m.d.comb += bus.r_data.eq(Mux(r_region == 1, out_words,
                                      Mux(r_region == 2, r_csr, 0)))
        return m
