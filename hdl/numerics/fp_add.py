"""Pipelined IEEE 754 binary32 adder/subtractor."""

from amaranth.hdl import Cat, Const, Module, Mux, Value, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .bits import leading_zeros, shift_right_sticky
from .formats import CANONICAL_NAN_FP32
from .pipeline import StallPipeline

__all__ = ["FP32AddOperands", "FP32Adder", "fp32_add_datapath"]


FP32AddOperands = data.StructLayout({"a": 32, "b": 32, "sub": 1})

_GUARD = 3  # guard, round and sticky bits below the 24-bit significand


class FP32Adder(wiring.Component):
    """``o = a + b`` (or ``a - b`` when ``sub``) in binary32, round-to-nearest-even.

    Four stages: unpack and order by magnitude; align with sticky and add;
    normalise (never below the minimum exponent, so subnormals come out
    naturally); round and pack. Exact zero sums are +0 unless both addends are
    negative; invalid operations give the canonical NaN 0x7FC00000.
    """

    latency = 4

    def __init__(self):
        super().__init__({
            "i": In(stream.Signature(FP32AddOperands)),
            "o": Out(stream.Signature(unsigned(32))),
        })

    def elaborate(self, platform):
        m = Module()
        p = StallPipeline(m, self.i, self.o)
        b = self.i.payload.b ^ (self.i.payload.sub << 31)
        result = fp32_add_datapath(m, self.i.payload.a, b, p.stage)
        out = p.stage(result=result)
        p.finish(out.result)
        return m


def fp32_add_datapath(m, a, b, stage, name: str = "add"):
    """The adder's steps on binary32 ``a`` and ``b``; returns the sum's bit pattern.

    ``stage(**values)`` is called between steps and returns the values as
    attributes: a pipeline register in :class:`FP32Adder`, wires in a
    single-cycle adder (see :func:`hdl.numerics.pipeline.combinational_stage`),
    so both compute bit-identical results.
    """
    a, b = Value.cast(a), Value.cast(b)

    # Step 1: classify and order the operands by magnitude.
    def fields(x):
        exp, frac = x[23:31], x[0:23]
        return dict(sign=x[31], nan=(exp == 0xFF) & frac.any(), inf=(exp == 0xFF) & ~frac.any())

    fa, fb = fields(a), fields(b)
    swap = a[0:31] < b[0:31]
    big = Mux(swap, b, a)
    small = Mux(swap, a, b)
    e_big = Mux(big[23:31] == 0, 1, big[23:31])
    e_small = Mux(small[23:31] == 0, 1, small[23:31])
    s1 = stage(
        m_big=Cat(big[0:23], big[23:31].any()),
        m_small=Cat(small[0:23], small[23:31].any()),
        e_big=e_big,
        diff=(e_big - e_small)[0:8],
        sign=big[31],
        eff_sub=fa["sign"] ^ fb["sign"],
        zero_sign=fa["sign"] & fb["sign"],
        nan=fa["nan"] | fb["nan"] | (fa["inf"] & fb["inf"] & (fa["sign"] ^ fb["sign"])),
        inf=fa["inf"] | fb["inf"],
        inf_sign=Mux(fa["inf"], fa["sign"], fb["sign"]),
    )

    # Step 2: align the smaller significand, then add or subtract.
    width = 24 + _GUARD
    amount = Mux(s1.diff > width, width, s1.diff)[0:5]
    aligned = shift_right_sticky(Cat(Const(0, _GUARD), s1.m_small), amount)
    ext_big = Cat(Const(0, _GUARD), s1.m_big)
    total = Mux(s1.eff_sub, ext_big - aligned, ext_big + aligned)[0:width + 1]
    s2 = stage(total=total, e_big=s1.e_big, sign=s1.sign, zero_sign=s1.zero_sign,
               nan=s1.nan, inf=s1.inf, inf_sign=s1.inf_sign)

    # Step 3: normalise. A carry shifts right once (keeping sticky); otherwise
    # shift left by the leading zeros, but never past exponent 1.
    carry = s2.total[width]
    body = s2.total[0:width]
    lz = leading_zeros(m, body, name=f"{name}_lz")
    room = s2.e_big - 1
    left = Mux(lz > room, room, lz)[0:5]
    normalised = (body << left)[0:width]
    carried = Cat(s2.total[0] | s2.total[1], s2.total[2:width + 1])
    norm = Mux(carry, carried, normalised)
    exp = Mux(carry, s2.e_big + 1, Mux(normalised[width - 1], s2.e_big - left, 0))
    s3 = stage(norm=norm, exp=exp[0:9], is_zero=~s2.total.any(), sign=s2.sign,
               zero_sign=s2.zero_sign, nan=s2.nan, inf=s2.inf, inf_sign=s2.inf_sign)

    # Step 4: round to nearest even and pack; a carry out of the fraction
    # bumps the exponent (and turns the largest finite value into infinity).
    lsb, guard, rest = s3.norm[_GUARD], s3.norm[_GUARD - 1], s3.norm[0:_GUARD - 1].any()
    round_up = guard & (rest | lsb)
    magnitude = (Cat(s3.norm[_GUARD:_GUARD + 23], s3.exp[0:8]) + round_up)[0:31]
    result = Mux(s3.exp >= 0xFF, Cat(Const(0, 23), Const(0xFF, 8), s3.sign),
                 Cat(magnitude, s3.sign))
    result = Mux(s3.is_zero, s3.zero_sign << 31, result)
    result = Mux(s3.inf, Cat(Const(0, 23), Const(0xFF, 8), s3.inf_sign), result)
    return Mux(s3.nan, CANONICAL_NAN_FP32, result)
