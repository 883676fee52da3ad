"""Pipelined floating-point multiplier with a binary32 result."""

from amaranth.hdl import Cat, Const, Module, Mux, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .bits import leading_zeros, shift_right_sticky
from .formats import BF16, CANONICAL_NAN_FP32, FP32, FloatFormat
from .pipeline import StallPipeline

__all__ = ["FPMultiplier"]


class FPMultiplier(wiring.Component):
    """``o = a * b`` rounded once to binary32 (round-to-nearest-even).

    ``operand_format`` is FP32 (an fp32 multiplier) or BF16 (the exact
    bf16 x bf16 product, rounded only where it over- or underflows binary32).
    Four stages: unpack; significand product (one DSP-sized multiply);
    normalise; denormalise below the minimum exponent with sticky, round, pack.
    """

    latency = 4

    def __init__(self, operand_format: FloatFormat = FP32):
        if operand_format not in (FP32, BF16):
            raise ValueError(f"operand_format must be FP32 or BF16, not {operand_format.name}")
        if operand_format.bias != FP32.bias:
            raise ValueError("operand and result formats must share the exponent bias")
        self._fmt = operand_format
        width = operand_format.width
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({"a": width, "b": width}))),
            "o": Out(stream.Signature(unsigned(32))),
        })

    @property
    def operand_format(self) -> FloatFormat:
        return self._fmt

    def elaborate(self, platform):
        m = Module()
        fmt = self._fmt
        mb, eb = fmt.man_bits, fmt.exp_bits
        p = StallPipeline(m, self.i, self.o)

        def unpack(x):
            exp, frac = x[mb:mb + eb], x[0:mb]
            return dict(sign=x[mb + eb], exp_eff=Mux(exp == 0, 1, exp), sig=Cat(frac, exp.any()),
                        zero=~x[0:mb + eb].any(),
                        nan=(exp == fmt.exp_max) & frac.any(),
                        inf=(exp == fmt.exp_max) & ~frac.any())

        ua, ub = unpack(self.i.payload.a), unpack(self.i.payload.b)
        s1 = p.stage(
            sig_a=ua["sig"], sig_b=ub["sig"], exp_sum=ua["exp_eff"] + ub["exp_eff"],
            sign=ua["sign"] ^ ub["sign"],
            nan=ua["nan"] | ub["nan"] | (ua["inf"] & ub["zero"]) | (ub["inf"] & ua["zero"]),
            inf=ua["inf"] | ub["inf"], zero=ua["zero"] | ub["zero"],
        )

        s2 = p.stage(product=s1.sig_a * s1.sig_b, exp_sum=s1.exp_sum, sign=s1.sign,
                     nan=s1.nan, inf=s1.inf, zero=s1.zero)

        # Normalise so the product's top bit is set; the biased binary32
        # exponent of that bit is exp_sum - 2*bias + bias + 1 - lz.
        pw = 2 * fmt.precision
        lz = leading_zeros(m, s2.product, name="mul_lz")
        exp = s2.exp_sum - fmt.bias + 1 - lz  # signed: in [2 - 126 - pw, 383]
        # Below exponent 1 the significand will shift right (a subnormal result); the
        # shift and the exponent field are settled here, off the rounding stage's path.
        xw = max(pw, 26)
        under = exp < 1
        s3 = p.stage(norm=(s2.product << lz)[0:pw],
                     shift=Mux(under, Mux(exp < 1 - xw, xw, 1 - exp), 0)[0:7],
                     exp_field=Mux(under, 0, exp[0:8]), overflow=~under & (exp >= 0xFF),
                     sign=s2.sign, nan=s2.nan, inf=s2.inf, zero=s2.zero)

        # Shifted-out bits fold into sticky; then round to nearest even.
        ext = Cat(Const(0, xw - pw), s3.norm)
        shifted = shift_right_sticky(ext, s3.shift)
        sig = shifted[xw - 24:xw]
        guard = shifted[xw - 25]
        rest = shifted[0:xw - 25].any()
        round_up = guard & (rest | sig[0])
        magnitude = (Cat(sig[0:23], s3.exp_field) + round_up)[0:31]
        inf_bits = Cat(Const(0, 23), Const(0xFF, 8), s3.sign)
        result = Mux(s3.overflow, inf_bits, Cat(magnitude, s3.sign))
        result = Mux(s3.zero, s3.sign << 31, result)
        result = Mux(s3.inf, inf_bits, result)
        result = Mux(s3.nan, CANONICAL_NAN_FP32, result)
        out = p.stage(result=result)
        p.finish(out.result)
        return m

