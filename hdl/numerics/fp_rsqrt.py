"""Pipelined binary32 reciprocal square root 1/sqrt(x)."""

from amaranth.hdl import Cat, Const, Module, Mux

from .fixed_float import round_stages, unpack_f32
from .formats import CANONICAL_NAN_FP32
from .pipeline import StallPipeline
from .poly import COEF_FRAC, RSQRT_TABLE, poly_stages
from .unary import UnaryFP32Unit

__all__ = ["FP32Rsqrt"]

_U_BITS = 23 - RSQRT_TABLE.segment_bits


class FP32Rsqrt(UnaryFP32Unit):
    """``o = 1/sqrt(x)`` on binary32, within 1 ulp (see TRANSCENDENTALS.md).

    ``x = 2**(2k + parity) * m`` with m in [1, 2) (subnormal inputs normalised);
    ``1/sqrt(2**parity * m)`` from a quadratic table with one 128-segment bank per
    parity, scaled by ``2**-k``, one round-to-nearest-even at the end.
    rsqrt(negative) = NaN, rsqrt(+0) = +inf, rsqrt(-0) = -inf, rsqrt(+inf) = +0,
    NaN gives 0x7FC00000. Six stages: unpack; table; two Horner steps;
    normalise; round.
    """

    latency = 6

    def elaborate(self, platform):
        m = Module()
        p = StallPipeline(m, self.i, self.o)
        f = unpack_f32(m, self.i.payload)
        sign = f["sign"]
        nan = f["nan"] | (sign & ~f["zero"])
        special_bits = Mux(nan, CANONICAL_NAN_FP32,
                           Cat(Const(0, 23), Mux(f["zero"], 0xFF, 0), sign))
        parity = f["exp"][0]
        s1 = p.stage(mant=f["mant"], parity=parity, half=(f["exp"] - parity) >> 1,
                     special=nan | f["inf"] | f["zero"], special_bits=special_bits)
        index = Cat(s1.mant[_U_BITS:], s1.parity)
        s4 = poly_stages(m, p, RSQRT_TABLE, index, s1.mant[0:_U_BITS], _U_BITS, "rsqrt",
                         exp=-s1.half, special=s1.special, special_bits=s1.special_bits)
        p.finish(round_stages(m, p, Const(0, 1), s4.y, s4.exp, COEF_FRAC, s4.special,
                              s4.special_bits, "rsqrt"))
        assert p.depth == self.latency
        return m
