"""Pipelined binary32 reciprocal 1/x."""

from amaranth.hdl import Cat, Const, Module, Mux

from .fixed_float import round_stages, unpack_f32
from .formats import CANONICAL_NAN_FP32
from .pipeline import StallPipeline
from .poly import COEF_FRAC, RECIP_TABLE, poly_stages
from .unary import UnaryFP32Unit

__all__ = ["FP32Reciprocal"]

_U_BITS = 23 - RECIP_TABLE.segment_bits


class FP32Reciprocal(UnaryFP32Unit):
    """``o = 1/x`` on binary32, within 1 ulp (see TRANSCENDENTALS.md).

    ``x = 2**e * m`` with m in [1, 2) (subnormal inputs normalised); ``1/m`` from
    a 256-segment quadratic table, one round-to-nearest-even at the end
    (subnormal results; overflow to infinity). recip(+-0) = +-inf,
    recip(+-inf) = +-0, NaN gives 0x7FC00000. Six stages: unpack; table; two
    Horner steps; normalise; round.
    """

    latency = 6

    def elaborate(self, platform):
        m = Module()
        p = StallPipeline(m, self.i, self.o)
        f = unpack_f32(m, self.i.payload)
        sign = f["sign"]
        special_bits = Mux(f["nan"], CANONICAL_NAN_FP32,
                           Cat(Const(0, 23), Mux(f["zero"], 0xFF, 0), sign))
        s1 = p.stage(mant=f["mant"], exp=f["exp"], sign=sign,
                     special=f["nan"] | f["inf"] | f["zero"], special_bits=special_bits)
        s4 = poly_stages(m, p, RECIP_TABLE, s1.mant[_U_BITS:], s1.mant[0:_U_BITS], _U_BITS,
                         "recip", exp=-s1.exp, sign=s1.sign, special=s1.special,
                         special_bits=s1.special_bits)
        p.finish(round_stages(m, p, s4.sign, s4.y, s4.exp, COEF_FRAC, s4.special,
                              s4.special_bits, "recip"))
        assert p.depth == self.latency
        return m
