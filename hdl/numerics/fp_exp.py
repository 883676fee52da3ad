"""Pipelined binary32 exponential e**x."""

import math

from amaranth.hdl import Const, Module, Mux

from .fixed_float import round_stages, unpack_f32
from .formats import CANONICAL_NAN_FP32
from .pipeline import StallPipeline
from .poly import COEF_FRAC, EXP2_TABLE, poly_stages
from .unary import UnaryFP32Unit

__all__ = ["FP32Exp", "LOG2E", "LOG2E_FRAC", "T_FRAC", "EXP_BIG_EXP", "exp_reduce"]

# log2(e) as an unsigned fixed-point constant with LOG2E_FRAC fraction bits.
LOG2E_FRAC = 37
LOG2E = round(math.log2(math.e) * (1 << LOG2E_FRAC))
# Fraction bits of the reduced argument t = x * log2(e).
T_FRAC = 32
# |x| >= 2**EXP_BIG_EXP (unbiased exponent) is outside the finite range of exp.
EXP_BIG_EXP = 7

_INF = 0x7F800000


def exp_reduce(p, x_sig, x_exp, negate, **carry):
    """Two stages: ``t = +-|x| * log2(e)`` truncated to T_FRAC fraction bits (|x| < 128).

    The exact 24 x 38-bit product of the significand and LOG2E is shifted right
    by the exponent-dependent amount (at most 63: tiny |x| give 0), then negated
    when ``negate``. Returns the second stage: ``n`` = floor(t) (signed) and
    ``frac`` = t - n (T_FRAC bits), plus the ``carry`` values.
    """
    shift = 23 + LOG2E_FRAC - T_FRAC - x_exp
    s = p.stage(product=x_sig * Const(LOG2E), shift=Mux(shift > 63, 63, shift)[0:6],
                negate=negate, **carry)
    magnitude = (s.product >> s.shift)[0:T_FRAC + 8]
    t = Mux(s.negate, -magnitude, magnitude).as_signed()
    return p.stage(n=t >> T_FRAC, frac=t[0:T_FRAC], **{k: getattr(s, k) for k in carry})


class FP32Exp(UnaryFP32Unit):
    """``o = e**x`` on binary32, within 1 ulp (see TRANSCENDENTALS.md).

    Range reduction ``x * log2(e) = n + v`` in fixed point, ``2**v`` from a
    128-segment quadratic table, one round-to-nearest-even at the end; results
    below 2**-126 are subnormal, overflow gives +inf, exp(-inf) = +0, NaN gives
    0x7FC00000. Eight stages: unpack; product; shift; table; two Horner steps;
    normalise; round.
    """

    latency = 8

    def elaborate(self, platform):
        m = Module()
        p = StallPipeline(m, self.i, self.o)
        x = self.i.payload
        f = unpack_f32(m, x)
        big = f["exp_eff"] >= EXP_BIG_EXP
        special_bits = Mux(f["nan"], CANONICAL_NAN_FP32, Mux(f["sign"], 0, _INF))
        s1 = p.stage(sig=f["sig"], exp_eff=f["exp_eff"], sign=f["sign"],
                     special=f["nan"] | f["inf"] | big, special_bits=special_bits)
        s3 = exp_reduce(p, s1.sig, s1.exp_eff, s1.sign,
                        special=s1.special, special_bits=s1.special_bits)
        u_bits = T_FRAC - EXP2_TABLE.segment_bits
        s6 = poly_stages(m, p, EXP2_TABLE, s3.frac[u_bits:], s3.frac[0:u_bits], u_bits, "exp2",
                         n=s3.n, special=s3.special, special_bits=s3.special_bits)
        result = round_stages(m, p, Const(0, 1), s6.y, s6.n, COEF_FRAC, s6.special,
                              s6.special_bits, "exp")
        p.finish(result)
        assert p.depth == self.latency
        return m

