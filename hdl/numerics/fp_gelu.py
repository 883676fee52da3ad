"""Pipelined binary32 GELU activation (tanh form) x * sigmoid(z(x))."""

import math

from amaranth.hdl import Const, Mux

from .fp_exp import T_FRAC
from .fp_silu import FP32SiLU

__all__ = ["FP32GELU", "GELU_P", "GELU_Q", "GELU_FRAC", "GELU_BIG_EXP"]

# z = 2*sqrt(2/pi) * (x + 0.044715 x**3); |z| * log2(e) = |x| * (P + Q x**2).
_K1 = 2.0 * math.sqrt(2.0 / math.pi)
GELU_FRAC = 44
GELU_P = round(_K1 * math.log2(math.e) * (1 << GELU_FRAC))
GELU_Q = round(_K1 * 0.044715 * math.log2(math.e) * (1 << GELU_FRAC))
# |x| >= 16: x for x > 0, -0 for x < 0 (the sigmoid is 1 or 0 to far beyond binary32).
GELU_BIG_EXP = 4


class FP32GELU(FP32SiLU):
    """``o = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x**3))) = x * sigmoid(z)`` on binary32.

    The SiLU datapath with ``|z| * log2(e) = |x| * (P + Q x**2)`` computed exactly
    from the significand and truncated twice (see TRANSCENDENTALS.md) in place
    of ``|x| * log2(e)``. gelu(+-0) = +-0, gelu(+inf) = +inf, gelu(-inf) = -0,
    x >= 16 gives x, x <= -16 gives -0, NaN gives 0x7FC00000. Sixteen stages.
    """

    latency = 16
    big_exp = GELU_BIG_EXP

    def _reduce(self, m, p, sig, exp_eff, carry):
        # x**2 = sq * 2**(2 exp_eff - 46); Q x**2 truncated to GELU_FRAC fraction bits.
        shift1 = 46 - 2 * exp_eff
        s1 = p.stage(sq=sig * sig, shift1=Mux(shift1 > 127, 127, shift1)[0:7], **carry)
        inner = Const(GELU_P) + ((Const(GELU_Q) * s1.sq) >> s1.shift1)
        s2 = p.stage(inner=inner, **{k: getattr(s1, k) for k in carry})
        # t = |x| * inner truncated to T_FRAC fraction bits.
        shift2 = 23 + GELU_FRAC - T_FRAC - s2.exp_eff
        s3 = p.stage(product=s2.sig * s2.inner, shift2=Mux(shift2 > 127, 127, shift2)[0:7],
                     **{k: getattr(s2, k) for k in carry})
        magnitude = (s3.product >> s3.shift2)[0:T_FRAC + 10]
        t = (-magnitude).as_signed()
        return p.stage(n=t >> T_FRAC, frac=t[0:T_FRAC], **{k: getattr(s3, k) for k in carry})
