"""Pipelined binary32 exponential e**x."""

import math

from amaranth.hdl import Const, Module, Mux, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .fixed_float import normalise, round_to_f32, unpack_f32
from .formats import CANONICAL_NAN_FP32
from .pipeline import StallPipeline
from .poly import COEF_FRAC, EXP2_TABLE, horner_b, horner_y

__all__ = ["FP32Exp", "LOG2E", "LOG2E_FRAC", "T_FRAC", "EXP_BIG_EXP", "exp_reduce"]

# log2(e) as an unsigned fixed-point constant with LOG2E_FRAC fraction bits.
LOG2E_FRAC = 37
LOG2E = round(math.log2(math.e) * (1 << LOG2E_FRAC))
# Fraction bits of the reduced argument t = x * log2(e).
T_FRAC = 32
# |x| >= 2**EXP_BIG_EXP (unbiased exponent) is outside the finite range of exp.
EXP_BIG_EXP = 7

_INF = 0x7F800000


def exp_reduce(p, f, name):
    """Two stages: ``|x| * log2(e)`` truncated to T_FRAC fraction bits (|x| < 128).

    The exact 24 x 38-bit product of the significand and LOG2E is shifted right
    by the exponent-dependent amount (at most 63: tiny |x| give 0). Returns the
    second stage's registers; ``t`` is the unsigned reduced magnitude.
    """
    shift = 23 + LOG2E_FRAC - T_FRAC - f.exp_eff
    s = p.stage(product=f.sig * Const(LOG2E), shift=Mux(shift > 63, 63, shift)[0:6], **{
        k: getattr(f, k) for k in f.__dict__ if k not in ("sig", "exp_eff")})
    return p.stage(t=(s.product >> s.shift)[0:T_FRAC + 8], **{
        k: getattr(s, k) for k in s.__dict__ if k not in ("product", "shift")})


class FP32Exp(wiring.Component):
    """``o = e**x`` on binary32, within 1 ulp (see TRANSCENDENTALS.md).

    Range reduction ``x * log2(e) = n + v`` in fixed point, ``2**v`` from a
    128-segment quadratic table, one round-to-nearest-even at the end; results
    below 2**-126 are subnormal, overflow gives +inf, exp(-inf) = +0, NaN gives
    0x7FC00000. Eight stages: unpack; product; shift; table; two Horner steps;
    normalise; round.
    """

    latency = 8

    def __init__(self):
        super().__init__({
            "i": In(stream.Signature(unsigned(32))),
            "o": Out(stream.Signature(unsigned(32))),
        })

    def elaborate(self, platform):
        m = Module()
        p = StallPipeline(m, self.i, self.o)
        x = self.i.payload
        f = unpack_f32(m, x)
        big = f["exp_eff"] >= EXP_BIG_EXP
        special_bits = Mux(f["nan"], CANONICAL_NAN_FP32, Mux(f["sign"], 0, _INF))
        s1 = p.stage(sig=f["sig"], exp_eff=f["exp_eff"], sign=f["sign"],
                     special=f["nan"] | f["inf"] | big, special_bits=special_bits)
        s3 = exp_reduce(p, s1, "exp")
        t = Mux(s3.sign, -s3.t, s3.t).as_signed()

        u_bits = T_FRAC - EXP2_TABLE.index_bits
        addr, (c0, c1, c2) = EXP2_TABLE.read_port(m, "exp2")
        s4_t = p.stage(n=(t >> T_FRAC).as_signed(), frac=t[0:T_FRAC],
                       special=s3.special, special_bits=s3.special_bits)
        m.d.comb += addr.eq(s4_t.frac[u_bits:])
        s5 = p.stage(c0=c0, c1=c1, c2=c2, u=s4_t.frac[0:u_bits], n=s4_t.n,
                     special=s4_t.special, special_bits=s4_t.special_bits)
        y_width = EXP2_TABLE.widths[0] + 2
        s6 = p.stage(b=horner_b(s5.c1, s5.c2, s5.u, u_bits), c0=s5.c0, u=s5.u, n=s5.n,
                     special=s5.special, special_bits=s5.special_bits)
        s7 = p.stage(y=horner_y(s6.c0, s6.b, s6.u, u_bits)[0:y_width], n=s6.n,
                     special=s6.special, special_bits=s6.special_bits)
        norm, biased = normalise(m, s7.y, s7.n, COEF_FRAC, "exp")
        s8 = p.stage(norm=norm, biased=biased.as_signed(), zero=~s7.y.any(),
                     special=s7.special, special_bits=s7.special_bits)
        result = Mux(s8.zero, 0, round_to_f32(Const(0, 1), s8.norm, s8.biased))
        out = p.stage(result=Mux(s8.special, s8.special_bits, result))
        p.finish(out.result)
        assert p.depth == self.latency
        return m


_ = signed  # noqa: the shapes module is re-exported for units built on exp_reduce
