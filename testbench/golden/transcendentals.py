"""Bit-exact golden models of the tail's transcendental units and stochastic rounding.

Each function mirrors its RTL datapath step by step in NumPy int64 arithmetic
(``>>`` on int64 is the floor shift the RTL's signed shifts perform) and reads
the same coefficient tables and constants as the RTL (hdl/numerics/poly.py and
the unit modules). The algorithms are described in hdl/numerics/TRANSCENDENTALS.md.
Inputs and outputs are raw binary32 (uint32) / bfloat16 (uint16) bit patterns;
every NaN result is the canonical 0x7FC00000.
"""

import numpy as np

from hdl.numerics.fp_exp import EXP_BIG_EXP, LOG2E, LOG2E_FRAC, T_FRAC
from hdl.numerics.fp_gelu import GELU_BIG_EXP, GELU_FRAC, GELU_P, GELU_Q
from hdl.numerics.fp_silu import D_FRAC
from hdl.numerics.fp_to_bf16_stochastic import lane_seed
from hdl.numerics.poly import COEF_FRAC, EXP2_TABLE, RECIP_TABLE, RSQRT_TABLE

__all__ = ["f32_exp", "f32_recip", "f32_rsqrt", "f32_silu", "f32_gelu", "f32_to_bf16_stochastic",
           "xorshift32"]

_NAN = np.int64(0x7FC00000)
_INF = np.int64(0x7F800000)


def _i64(x):
    return np.asarray(x, dtype=np.uint32).astype(np.int64)


def _bit_length(x):
    """Bit length of each non-negative int64 element (0 for 0)."""
    n = np.zeros(x.shape, dtype=np.int64)
    for i in range(63):
        n += (x >> i) > 0
    return n


def _unpack(x):
    """Mirror of fixed_float.unpack_f32 on int64 arrays."""
    exp_field = (x >> 23) & 0xFF
    frac = x & 0x7FFFFF
    sig = frac | ((exp_field != 0).astype(np.int64) << 23)
    lz = 24 - _bit_length(sig)
    exp_eff = np.where(exp_field == 0, 1, exp_field) - 127
    return dict(sign=x >> 31, sig=sig, exp_eff=exp_eff,
                mant=(sig << lz) & 0x7FFFFF, exp=exp_eff - lz,
                zero=(x & 0x7FFFFFFF) == 0, inf=(exp_field == 0xFF) & (frac == 0),
                nan=(exp_field == 0xFF) & (frac != 0), exp_field=exp_field)


def _round_to_f32(sign, sig, exp, frac_bits, width):
    """Mirror of fixed_float.normalise + round_to_f32: ``sig * 2**(exp - frac_bits)``, RNE.

    ``width`` is the RTL register width of ``sig``; a zero ``sig`` gives a signed zero.
    """
    assert width <= 62 and (sig >> width == 0).all()
    lz = width - _bit_length(sig)
    biased = exp + (width - 1 - frac_bits + 127) - lz
    norm = np.where(sig == 0, 0, sig << np.minimum(lz, width - 1)) & ((1 << width) - 1)
    under = biased < 1
    shift = np.where(under, np.where(biased < 1 - width, width, 1 - biased), 0)
    sticky = (norm & ((np.int64(1) << shift) - 1)) != 0
    shifted = (norm >> shift) | sticky
    sig24 = shifted >> (width - 24)
    guard = (shifted >> (width - 25)) & 1
    rest = (shifted & ((1 << (width - 25)) - 1)) != 0
    round_up = guard & (rest | (sig24 & 1))
    exp_field = np.where(under, 0, biased & 0xFF)
    magnitude = (((exp_field << 23) | (sig24 & 0x7FFFFF)) + round_up) & 0x7FFFFFFF
    out = np.where(~under & (biased >= 0xFF), _INF, magnitude) | (sign << 31)
    return np.where(sig == 0, sign << 31, out)


def _poly(table, index, u, u_bits):
    """Mirror of the two Horner stages: b = c1 + (c2*u >> u_bits); y = c0 + (b*u >> u_bits)."""
    coeffs = np.array(table.coefficients, dtype=np.int64)
    c0, c1, c2 = coeffs[index, 0], coeffs[index, 1], coeffs[index, 2]
    b = c1 + ((c2 * u) >> u_bits)
    return c0 + ((b * u) >> u_bits)


def _poly_width(table):
    return table.widths[0] + 2


def _exp_reduce(f):
    """t = |x| * log2(e) in fixed point (T_FRAC fraction bits), truncated; |x| < 128."""
    product = f["sig"] * LOG2E
    # Clipped below at 0 only for |x| >= 128, whose result the special-case select replaces.
    shift = np.clip(23 + LOG2E_FRAC - T_FRAC - f["exp_eff"], 0, 63)
    return product >> shift


def _finish(bits):
    return bits.astype(np.uint32)


def f32_exp(x):
    """e**x: overflow to +inf, subnormal results, underflow to +0; exp(-inf) = +0."""
    f = _unpack(_i64(x))
    big = f["exp_eff"] >= EXP_BIG_EXP
    t = _exp_reduce(f)
    t = np.where(f["sign"] == 1, -t, t)
    n, frac = t >> T_FRAC, t & ((1 << T_FRAC) - 1)
    u_bits = T_FRAC - EXP2_TABLE.segment_bits
    y = _poly(EXP2_TABLE, frac >> u_bits, frac & ((1 << u_bits) - 1), u_bits)
    r = _round_to_f32(np.zeros_like(n), y, n, COEF_FRAC, _poly_width(EXP2_TABLE))
    overflow = f["inf"] | big
    r = np.where(overflow, np.where(f["sign"] == 1, 0, _INF), r)
    return _finish(np.where(f["nan"], _NAN, r))


def f32_recip(x):
    """1/x: recip(+-0) = +-inf, recip(+-inf) = +-0, subnormal inputs and results."""
    f = _unpack(_i64(x))
    u_bits = 23 - RECIP_TABLE.segment_bits
    y = _poly(RECIP_TABLE, f["mant"] >> u_bits, f["mant"] & ((1 << u_bits) - 1), u_bits)
    r = _round_to_f32(f["sign"], y, -f["exp"], COEF_FRAC, _poly_width(RECIP_TABLE))
    r = np.where(f["zero"], (f["sign"] << 31) | _INF, r)
    r = np.where(f["inf"], f["sign"] << 31, r)
    return _finish(np.where(f["nan"], _NAN, r))


def f32_rsqrt(x):
    """1/sqrt(x): negative -> NaN, +0 -> +inf, -0 -> -inf, +inf -> +0."""
    f = _unpack(_i64(x))
    parity = f["exp"] & 1
    half = (f["exp"] - parity) >> 1
    u_bits = 23 - RSQRT_TABLE.segment_bits
    index = (parity << RSQRT_TABLE.segment_bits) | (f["mant"] >> u_bits)
    y = _poly(RSQRT_TABLE, index, f["mant"] & ((1 << u_bits) - 1), u_bits)
    r = _round_to_f32(np.zeros_like(half), y, -half, COEF_FRAC, _poly_width(RSQRT_TABLE))
    r = np.where(f["inf"], 0, r)
    r = np.where(f["zero"], (f["sign"] << 31) | _INF, r)
    nan = f["nan"] | ((f["sign"] == 1) & ~f["zero"])
    return _finish(np.where(nan, _NAN, r))


def f32_silu(x):
    """x * sigmoid(x) = x / (1 + e**-x), one rounding at the end."""
    return _x_sigmoid(_i64(x), _exp_reduce, EXP_BIG_EXP)


def _gelu_reduce(f):
    """|z| * log2(e) = |x| * (P + Q x**2) in fixed point, in Python integers (89-bit products)."""
    sig = f["sig"].astype(object)
    exp_eff = f["exp_eff"].astype(object)
    shift1 = np.minimum(np.maximum(46 - 2 * exp_eff, 0), 127)  # clipped at 0 only for |x| >= 16
    inner = GELU_P + ((GELU_Q * sig * sig) >> shift1)
    shift2 = np.minimum(np.maximum(23 + GELU_FRAC - T_FRAC - exp_eff, 0), 127)
    t = (sig * inner) >> shift2
    return (t & ((1 << (T_FRAC + 10)) - 1)).astype(np.int64)


def f32_gelu(x):
    """GELU, tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x**3))) = x * sigmoid(z)."""
    return _x_sigmoid(_i64(x), _gelu_reduce, GELU_BIG_EXP)


def _x_sigmoid(x, reduce, big_exp):
    """x * sigmoid(z) with ``reduce(fields)`` = |z| * log2(e) (T_FRAC fraction bits)."""
    f = _unpack(x)
    big = f["exp_eff"] >= big_exp
    t = -reduce(f)                                        # -|z| * log2(e)
    n, frac = t >> T_FRAC, t & ((1 << T_FRAC) - 1)
    u_bits = T_FRAC - EXP2_TABLE.segment_bits
    ye = _poly(EXP2_TABLE, frac >> u_bits, frac & ((1 << u_bits) - 1), u_bits)
    # d = 1 + e**-|x| with D_FRAC fraction bits, truncated; normalised into [1, 2).
    d = (1 << D_FRAC) + (ye >> np.minimum(-n + COEF_FRAC - D_FRAC, 63))
    dtop = d >> (D_FRAC + 1)
    d = d >> dtop
    d_frac = d & ((1 << D_FRAC) - 1)
    r_bits = D_FRAC - RECIP_TABLE.segment_bits
    yr = _poly(RECIP_TABLE, d_frac >> r_bits, d_frac & ((1 << r_bits) - 1), r_bits)
    # sigmoid(x) = s * 2**(s_exp - COEF_FRAC): 1/d for x >= 0, e/d for x < 0.
    neg = f["sign"] == 1
    s = np.where(neg, (ye * yr) >> COEF_FRAC, yr)
    s_exp = np.where(neg, n, 0) - dtop
    r = _round_to_f32(f["sign"], f["sig"] * s, f["exp_eff"] - 23 + s_exp, COEF_FRAC,
                      24 + _poly_width(EXP2_TABLE))
    r = np.where(big | f["inf"], np.where(neg, np.int64(1) << 31, x), r)
    return _finish(np.where(f["nan"], _NAN, r))


def xorshift32(state):
    """One step of Marsaglia's xorshift32 (13, 17, 5) on uint32 values."""
    s = np.asarray(state, dtype=np.uint32)
    s = s ^ (s << np.uint32(13))
    s = s ^ (s >> np.uint32(17))
    return s ^ (s << np.uint32(5))


def f32_to_bf16_stochastic(x, lanes: int, seed: int):
    """Stochastic rounding as the ``lanes``-lane unit with ``seed`` does it, element k on lane
    k % lanes: add the top 16 bits of the lane's xorshift32 state to the low half, truncate;
    the state advances once per element. NaN -> 0x7FC0; inf stays inf."""
    x = np.asarray(x, dtype=np.uint32)
    count = len(x)
    beats = -(-count // lanes)
    padded = np.zeros(beats * lanes, dtype=np.uint32)
    padded[:count] = x
    grid = padded.reshape(beats, lanes)
    state = np.array([lane_seed(seed, n) for n in range(lanes)], dtype=np.uint32)
    rand = np.empty_like(grid)
    for beat in range(beats):
        rand[beat] = state >> np.uint32(16)
        state = xorshift32(state)
    out = ((grid.astype(np.uint64) + rand) >> 16).astype(np.uint16)
    exp_field, frac = (grid >> 23) & 0xFF, grid & 0x7FFFFF
    out = np.where((exp_field == 0xFF) & (frac != 0), np.uint16(0x7FC0), out)
    return out.reshape(-1)[:count].astype(np.uint16)
