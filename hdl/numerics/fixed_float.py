"""binary32 <-> fixed point: the unpack and round-and-pack steps of the transcendental units.

``unpack_f32`` splits a binary32 value into sign, significand and exponent,
normalising subnormals. ``normalise`` and ``round_to_f32`` turn a non-negative
fixed-point significand ``sig`` with unbiased exponent ``exp`` (the value is
``sig * 2**(exp - frac_bits)``) into a binary32 bit pattern, round-to-nearest-
even once, with subnormal results and overflow to infinity. They are two
pipeline stages: count leading zeros and shift; then denormalise, round, pack.
The golden model mirrors each step (testbench/golden/transcendentals.py).
"""

from amaranth.hdl import Cat, Const, Mux

from .bits import leading_zeros, shift_right_sticky

__all__ = ["unpack_f32", "normalise", "round_to_f32", "round_stages"]


def unpack_f32(m, x, name="x"):
    """Fields of binary32 ``x``: sign, significand 1.mant (mant, 23 bits), unbiased exponent.

    Subnormals are normalised (their exponent goes below -126); ``sig`` is the
    raw 24-bit significand with the hidden bit, ``exp_eff`` its exponent (the
    value is ``sig * 2**(exp_eff - 23)``). Zero gives ``mant`` 0.
    """
    exp_field, frac = x[23:31], x[0:23]
    sig = Cat(frac, exp_field.any())
    lz = leading_zeros(m, sig, name=f"{name}_lz")
    exp_eff = Mux(exp_field == 0, 1, exp_field) - 127
    return dict(
        sign=x[31], sig=sig, exp_eff=exp_eff,
        mant=(sig << lz)[0:23], exp=exp_eff - lz,
        zero=~x[0:31].any(), inf=(exp_field == 0xFF) & ~frac.any(),
        nan=(exp_field == 0xFF) & frac.any(), exp_field=exp_field,
    )


def normalise(m, sig, exp, frac_bits, name):
    """Shift ``sig`` so its top bit is set; return (norm, biased exponent of that bit).

    ``sig`` must be non-zero for the exponent to mean anything (callers flag zero).
    """
    width = len(sig)
    if width < 26:
        raise ValueError(f"a significand to round needs at least 26 bits, not {width}")
    lz = leading_zeros(m, sig, name=f"{name}_lz")
    biased = exp + (width - 1 - frac_bits + 127) - lz
    return (sig << lz)[0:width], biased


def round_to_f32(sign, norm, biased):
    """binary32 bits of ``norm`` (top bit set) with ``biased`` exponent, nearest-even.

    Below exponent 1 the significand shifts right first (subnormal result) with
    the shifted-out bits folded into sticky; a carry out of the rounded
    fraction moves into the exponent, so the largest values round to infinity.
    """
    width = len(norm)
    under = biased < 1
    shift = Mux(under, Mux(biased < 1 - width, width, 1 - biased), 0)
    shifted = shift_right_sticky(norm, shift[0:(width).bit_length()])
    sig = shifted[width - 24:width]
    guard = shifted[width - 25]
    rest = shifted[0:width - 25].any()
    round_up = guard & (rest | sig[0])
    exp_field = Mux(under, 0, biased[0:8])
    magnitude = (Cat(sig[0:23], exp_field) + round_up)[0:31]
    inf_bits = Cat(Const(0, 23), Const(0xFF, 8), sign)
    return Mux(~under & (biased >= 0xFF), inf_bits, Cat(magnitude, sign))


def round_stages(m, p, sign, sig, exp, frac_bits, special, special_bits, name):
    """Two pipeline stages from ``sig * 2**(exp - frac_bits)`` to the binary32 result.

    ``special`` selects ``special_bits`` instead (NaN, infinities, out-of-range
    inputs); a zero ``sig`` gives a zero of sign ``sign``. Returns the result value
    of the last stage.
    """
    norm, biased = normalise(m, sig, exp, frac_bits, name)
    s1 = p.stage(norm=norm, biased=biased, zero=~sig.any(), sign=sign,
                 special=special, special_bits=special_bits)
    result = Mux(s1.zero, s1.sign << 31, round_to_f32(s1.sign, s1.norm, s1.biased))
    return p.stage(result=Mux(s1.special, s1.special_bits, result)).result
