"""binary32 -> bfloat16 conversion."""

from amaranth.hdl import Module, Mux, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .formats import CANONICAL_NAN_BF16
from .pipeline import StallPipeline

__all__ = ["FP32ToBF16"]


class FP32ToBF16(wiring.Component):
    """Round a binary32 value to bfloat16, nearest-even; NaN becomes 0x7FC0.

    The two formats share the exponent, so rounding is an increment of the top
    half when the dropped half is above the midpoint, or at it with an odd top
    half; a carry out of the fraction moves into the exponent (the largest
    values round to infinity). One stage.
    """

    latency = 1

    def __init__(self):
        super().__init__({
            "i": In(stream.Signature(unsigned(32))),
            "o": Out(stream.Signature(unsigned(16))),
        })

    def elaborate(self, platform):
        m = Module()
        p = StallPipeline(m, self.i, self.o)
        x = self.i.payload
        upper, lower = x[16:32], x[0:16]
        is_nan = (x[23:31] == 0xFF) & x[0:23].any()
        round_up = (lower > 0x8000) | ((lower == 0x8000) & upper[0])
        rounded = (upper + round_up)[0:16]
        out = p.stage(result=Mux(is_nan, CANONICAL_NAN_BF16, rounded))
        p.finish(out.result)
        return m
