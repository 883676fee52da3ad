"""32-bit integer ALU."""

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from .pipeline import StallPipeline

__all__ = ["IntOp", "Int32ALU"]


class IntOp(enum.Enum, shape=4):
    """Operation of :class:`Int32ALU`. Shifts use the low five bits of ``b``."""

    ADD = 0
    SUB = 1
    MUL = 2  # low 32 bits of the product (same for signed and unsigned)
    SHL = 3
    SHR = 4  # logical
    SRA = 5  # arithmetic
    AND = 6
    OR = 7
    XOR = 8


class Int32ALU(wiring.Component):
    """Two's-complement int32 add/sub/mul/shift/logic, wrapping. Two stages."""

    latency = 2

    def __init__(self):
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({"a": 32, "b": 32, "op": IntOp}))),
            "o": Out(stream.Signature(unsigned(32))),
        })

    def elaborate(self, platform):
        m = Module()
        p = StallPipeline(m, self.i, self.o)
        s1 = p.stage(a=self.i.payload.a, b=self.i.payload.b, op=self.i.payload.op.as_value())
        a, b, amount = s1.a, s1.b, s1.b[0:5]
        result = Signal(32)
        with m.Switch(s1.op):
            with m.Case(IntOp.ADD):
                m.d.comb += result.eq(a + b)
            with m.Case(IntOp.SUB):
                m.d.comb += result.eq(a - b)
            with m.Case(IntOp.MUL):
                m.d.comb += result.eq(a * b)
            with m.Case(IntOp.SHL):
                m.d.comb += result.eq(a << amount)
            with m.Case(IntOp.SHR):
                m.d.comb += result.eq(a >> amount)
            with m.Case(IntOp.SRA):
                m.d.comb += result.eq(a.as_signed() >> amount)
            with m.Case(IntOp.AND):
                m.d.comb += result.eq(a & b)
            with m.Case(IntOp.OR):
                m.d.comb += result.eq(a | b)
            with m.Case(IntOp.XOR):
                m.d.comb += result.eq(a ^ b)
        out = p.stage(result=result)
        p.finish(out.result)
        return m
