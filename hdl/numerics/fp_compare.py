"""binary32 max, min and ordered comparisons."""

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from .formats import CANONICAL_NAN_FP32
from .pipeline import StallPipeline

__all__ = ["CompareOp", "FP32Compare"]


class CompareOp(enum.Enum, shape=3):
    """Operation of :class:`FP32Compare`."""

    MAX = 0
    MIN = 1
    LT = 2
    LE = 3
    EQ = 4


class FP32Compare(wiring.Component):
    """max / min (value result) and lt / le / eq (result 1 or 0) on binary32.

    max and min return the canonical NaN if either operand is NaN and order
    -0 below +0. lt, le and eq follow IEEE 754: false when either operand is
    NaN, and -0 equals +0. One stage.
    """

    latency = 1

    def __init__(self):
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({"a": 32, "b": 32, "op": CompareOp}))),
            "o": Out(stream.Signature(unsigned(32))),
        })

    def elaborate(self, platform):
        m = Module()
        p = StallPipeline(m, self.i, self.o)
        a, b, op = self.i.payload.a, self.i.payload.b, self.i.payload.op

        def is_nan(x):
            return (x[23:31] == 0xFF) & x[0:23].any()

        def order_key(x):  # an unsigned key whose order is the total order with -0 < +0
            return Mux(x[31], ~x, Cat(x[0:31], 1))

        unordered = is_nan(a) | is_nan(b)
        both_zero = ~a[0:31].any() & ~b[0:31].any()
        key_a, key_b = order_key(a), order_key(b)
        lt = ~unordered & ~both_zero & (key_a < key_b)
        eq = ~unordered & ((a == b) | both_zero)

        result = Signal(32)
        with m.Switch(op):
            with m.Case(CompareOp.MAX):
                m.d.comb += result.eq(Mux(unordered, CANONICAL_NAN_FP32, Mux(key_a >= key_b, a, b)))
            with m.Case(CompareOp.MIN):
                m.d.comb += result.eq(Mux(unordered, CANONICAL_NAN_FP32, Mux(key_a <= key_b, a, b)))
            with m.Case(CompareOp.LT):
                m.d.comb += result.eq(lt)
            with m.Case(CompareOp.LE):
                m.d.comb += result.eq(lt | eq)
            with m.Case(CompareOp.EQ):
                m.d.comb += result.eq(eq)
        out = p.stage(result=result)
        p.finish(out.result)
        return m
