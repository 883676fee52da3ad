"""A single-cycle binary32 adder: the accumulator feedback path of a systolic PE.

The systolic array accumulates ``c = c + p`` in order over k, one k per cycle,
so the adder sits inside a one-cycle loop. This is hdl/numerics FP32Adder's
datapath (same four steps, same widths, same rounding) with its stage
registers replaced by wires; ``tests/test_pcu_systolic.py`` proves it
bit-exact against the golden f32_add on hard vectors.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.numerics.bits import leading_zeros, shift_right_sticky
from hdl.numerics.formats import CANONICAL_NAN_FP32
from hdl.numerics.lane_array import LaneArray

__all__ = ["fp32_add_comb", "SingleCycleFP32Adder", "make_single_cycle_adder_lanes"]

_GUARD = 3  # guard, round and sticky bits below the 24-bit significand


class _Wires:
    """Named combinational signals standing where FP32Adder has stage registers."""

    def __init__(self, m, prefix, **values):
        for name, value in values.items():
            value = Value.cast(value)
            wire = Signal(value.shape(), name=f"{prefix}_{name}")
            m.d.comb += wire.eq(value)
            setattr(self, name, wire)


def fp32_add_comb(m: Module, a, b, *, name: str = "add") -> Signal:
    """``a + b`` in binary32 (round-to-nearest-even), combinational; returns a 32-bit signal.

    Exact zero sums are +0 unless both addends are negative; invalid operations
    give the canonical NaN 0x7FC00000 (the FP32Adder contract).
    """
    def fields(x):
        exp, frac = x[23:31], x[0:23]
        return dict(sign=x[31], nan=(exp == 0xFF) & frac.any(), inf=(exp == 0xFF) & ~frac.any())

    a, b = Value.cast(a), Value.cast(b)
    fa, fb = fields(a), fields(b)
    swap = a[0:31] < b[0:31]
    big = Mux(swap, b, a)
    small = Mux(swap, a, b)
    e_big = Mux(big[23:31] == 0, 1, big[23:31])
    e_small = Mux(small[23:31] == 0, 1, small[23:31])
    s1 = _Wires(
        m, f"{name}_s1",
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

    # Align the smaller significand, then add or subtract.
    width = 24 + _GUARD
    amount = Mux(s1.diff > width, width, s1.diff)[0:5]
    aligned = shift_right_sticky(Cat(Const(0, _GUARD), s1.m_small), amount)
    ext_big = Cat(Const(0, _GUARD), s1.m_big)
    total = Mux(s1.eff_sub, ext_big - aligned, ext_big + aligned)[0:width + 1]
    s2 = _Wires(m, f"{name}_s2", total=total, e_big=s1.e_big)

    # Normalise: a carry shifts right once (keeping sticky); otherwise shift
    # left by the leading zeros, but never past exponent 1.
    carry = s2.total[width]
    body = s2.total[0:width]
    lz = leading_zeros(m, body, name=f"{name}_lz")
    room = s2.e_big - 1
    left = Mux(lz > room, room, lz)[0:5]
    normalised = (body << left)[0:width]
    carried = Cat(s2.total[0] | s2.total[1], s2.total[2:width + 1])
    norm = Mux(carry, carried, normalised)
    exp = Mux(carry, s2.e_big + 1, Mux(normalised[width - 1], s2.e_big - left, 0))
    s3 = _Wires(m, f"{name}_s3", norm=norm, exp=exp[0:9], is_zero=~s2.total.any())

    # Round to nearest even and pack; a carry out of the fraction bumps the
    # exponent (and turns the largest finite value into infinity).
    lsb, guard, rest = s3.norm[_GUARD], s3.norm[_GUARD - 1], s3.norm[0:_GUARD - 1].any()
    round_up = guard & (rest | lsb)
    magnitude = (Cat(s3.norm[_GUARD:_GUARD + 23], s3.exp[0:8]) + round_up)[0:31]
    result = Mux(s3.exp >= 0xFF, Cat(Const(0, 23), Const(0xFF, 8), s1.sign),
                 Cat(magnitude, s1.sign))
    result = Mux(s3.is_zero, s1.zero_sign << 31, result)
    result = Mux(s1.inf, Cat(Const(0, 23), Const(0xFF, 8), s1.inf_sign), result)
    result = Mux(s1.nan, CANONICAL_NAN_FP32, result)
    out = Signal(32, name=f"{name}_sum")
    m.d.comb += out.eq(result)
    return out


class SingleCycleFP32Adder(wiring.Component):
    """``o = a + b`` through :func:`fp32_add_comb` with one output register (latency 1).

    Exists so the combinational adder can be checked on its own with the
    arithmetic-unit stream tests; the systolic array uses the function directly.
    """

    latency = 1

    def __init__(self):
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({"a": 32, "b": 32}))),
            "o": Out(stream.Signature(unsigned(32))),
        })

    def elaborate(self, platform):
        m = Module()
        total = fp32_add_comb(m, self.i.payload.a, self.i.payload.b)
        result = Signal(32)
        m.d.comb += [self.i.ready.eq(~self.o.valid | self.o.ready),
                     self.o.payload.eq(result)]
        with m.If(self.i.ready):
            m.d.sync += [self.o.valid.eq(self.i.valid), result.eq(total)]
        return m


def make_single_cycle_adder_lanes(lanes: int = 8) -> LaneArray:
    """``lanes`` single-cycle adders behind one stream (a Design factory for the tests)."""
    return LaneArray(SingleCycleFP32Adder, lanes)
