"""Pipelined binary32 SiLU activation x * sigmoid(x)."""

from amaranth.hdl import Const, Module, Mux

from .fixed_float import round_stages, unpack_f32
from .formats import CANONICAL_NAN_FP32
from .fp_exp import EXP_BIG_EXP, T_FRAC, exp_reduce
from .pipeline import StallPipeline
from .poly import COEF_FRAC, EXP2_TABLE, RECIP_TABLE, poly_stages
from .unary import UnaryFP32Unit

__all__ = ["FP32SiLU", "D_FRAC"]

# Fraction bits of d = 1 + e**-|x| (truncated) before its reciprocal.
D_FRAC = 30


class FP32SiLU(UnaryFP32Unit):
    """``o = x * sigmoid(x) = x / (1 + e**-x)`` on binary32 (see TRANSCENDENTALS.md).

    Fixed point throughout with one rounding at the end: ``e = e**-|x|`` by the
    exp datapath, ``r = 1 / (1 + e)`` by the reciprocal table, sigmoid is ``r``
    for x >= 0 and ``e * r`` for x < 0 (no cancellation, and full precision deep
    into the negative range), then ``x * sigmoid`` rounds to nearest even.
    silu(+-0) = +-0, silu(+inf) = +inf, silu(-inf) = -0, x >= 128 gives x,
    x <= -128 gives -0, NaN gives 0x7FC00000. Fourteen stages.
    """

    latency = 14
    # |x| >= 2**big_exp (unbiased exponent): x for x > 0, -0 for x < 0.
    big_exp = EXP_BIG_EXP

    def elaborate(self, platform):
        m = Module()
        p = StallPipeline(m, self.i, self.o)
        x = self.i.payload
        f = unpack_f32(m, x)
        special_bits = Mux(f["nan"], CANONICAL_NAN_FP32, Mux(f["sign"], 0x80000000, x))
        s1 = p.stage(sig=f["sig"], exp_eff=f["exp_eff"], sign=f["sign"],
                     special=f["nan"] | f["inf"] | (f["exp_eff"] >= self.big_exp),
                     special_bits=special_bits)
        carry = dict(sign=s1.sign, sig=s1.sig, exp_eff=s1.exp_eff, special=s1.special,
                     special_bits=s1.special_bits)

        def keep(stage, **extra):
            return {**{k: getattr(stage, k) for k in carry}, **extra}

        # e = ye * 2**(n - COEF_FRAC) = e**-|z|, n <= 0 (z = x for SiLU).
        s3 = self._reduce(m, p, s1.sig, s1.exp_eff, carry)
        e_bits = T_FRAC - EXP2_TABLE.segment_bits
        s6 = poly_stages(m, p, EXP2_TABLE, s3.frac[e_bits:], s3.frac[0:e_bits], e_bits, "exp2",
                         **keep(s3, n=s3.n))
        # d = 1 + e, truncated to D_FRAC fraction bits, then brought into [1, 2).
        shift = -s6.n + (COEF_FRAC - D_FRAC)
        d = (Const(1 << D_FRAC) + (s6.y >> Mux(shift > 63, 63, shift)[0:6]))[0:D_FRAC + 2]
        dtop = d[D_FRAC + 1]
        s7 = p.stage(d_frac=(d >> dtop)[0:D_FRAC], dtop=dtop, ye=s6.y, **keep(s6, n=s6.n))
        r_bits = D_FRAC - RECIP_TABLE.segment_bits
        s10 = poly_stages(m, p, RECIP_TABLE, s7.d_frac[r_bits:], s7.d_frac[0:r_bits], r_bits,
                          "recip", **keep(s7, n=s7.n, dtop=s7.dtop, ye=s7.ye))
        # sigmoid = s * 2**(s_exp - COEF_FRAC).
        neg = s10.sign
        s_width = len(s10.ye)
        s = Mux(neg, (s10.ye * s10.y) >> COEF_FRAC, s10.y)[0:s_width]
        s_exp = Mux(neg, s10.n, 0) - s10.dtop
        s11 = p.stage(s=s, s_exp=s_exp, **keep(s10))
        s12 = p.stage(product=s11.sig * s11.s, exp=s11.exp_eff - 23 + s11.s_exp,
                      sign=s11.sign, special=s11.special, special_bits=s11.special_bits)
        p.finish(round_stages(m, p, s12.sign, s12.product, s12.exp, COEF_FRAC, s12.special,
                              s12.special_bits, "gated"))
        assert p.depth == self.latency
        return m

    def _reduce(self, m, p, sig, exp_eff, carry):
        """Stages giving ``n``, ``frac`` of ``-|z| * log2(e)`` (z = x here) and ``carry``."""
        return exp_reduce(p, sig, exp_eff, Const(1, 1), **carry)
