"""Operand generators that hit the hard cases of binary32 / bfloat16 arithmetic.

Uniformly random bit patterns almost never produce ties, cancellations or
subnormal results, so each batch mixes several generators: special values,
subnormals, extreme exponents, operand pairs built to cancel, to tie under
round-to-nearest-even, to overflow and to underflow. :func:`classify` counts
which hard classes a batch reached so tests can assert they were hit.
"""

import numpy as np

from .numerics import is_nan_f32

__all__ = ["SPECIAL_F32", "hard_f32_pairs", "hard_f32_values", "hard_bf16_pairs", "classify"]

SPECIAL_F32 = np.array([
    0x00000000, 0x80000000,              # +-0
    0x00000001, 0x80000001,              # smallest subnormals
    0x007FFFFF, 0x807FFFFF,              # largest subnormals
    0x00800000, 0x80800000,              # smallest normals
    0x7F7FFFFF, 0xFF7FFFFF,              # largest finite
    0x3F800000, 0xBF800000,              # +-1
    0x7F800000, 0xFF800000,              # +-inf
    0x7FC00000, 0xFFC00000, 0x7F800001, 0xFFBFFFFF,  # quiet and signalling NaNs
], dtype=np.uint32)


def _compose(sign, exp, frac):
    return ((sign.astype(np.uint32) << 31) | (exp.astype(np.uint32) << 23)
            | frac.astype(np.uint32)).astype(np.uint32)


def hard_f32_values(rng, n):
    """``n`` binary32 bit patterns, a mix of every class of value."""
    kind = rng.integers(0, 6, n)
    sign = rng.integers(0, 2, n)
    frac = rng.integers(0, 1 << 23, n)
    exp = rng.integers(1, 255, n)                              # normal
    exp = np.where(kind == 1, 0, exp)                          # subnormal
    exp = np.where(kind == 2, rng.choice([1, 2, 3, 252, 253, 254], n), exp)  # extreme
    sparse = frac & (0x7FF000 | rng.integers(0, 8, n))         # few low bits: exact/tie
    frac = np.where(kind == 3, sparse, frac)
    out = _compose(sign, exp, frac)
    special = rng.choice(SPECIAL_F32, n)
    out = np.where(kind == 4, special, out)
    out = np.where(kind == 5, rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32), out)
    return out.astype(np.uint32)


def hard_f32_pairs(rng, n):
    """``n`` operand pairs (a, b) for binary32 add, mul and compare."""
    a = hard_f32_values(rng, n)
    b = hard_f32_values(rng, n)
    kind = rng.integers(0, 6, n)
    a_exp = (a >> 23) & 0xFF
    a_frac = a & 0x7FFFFF
    # b = -a or b = a: total cancellation in add, equality in compare.
    b = np.where(kind == 0, a ^ (rng.integers(0, 2, n).astype(np.uint32) << 31), b)
    # b a few binades below a with a sparse fraction: round-half-even ties in add.
    shift = rng.integers(22, 27, n)
    tie_exp = np.clip(a_exp.astype(np.int64) - shift, 0, 254)
    tie_frac = rng.integers(0, 4, n) << rng.integers(19, 23, n)
    b = np.where(kind == 1, _compose(rng.integers(0, 2, n), tie_exp, tie_frac & 0x7FFFFF), b)
    # b close to a: partial cancellation, long normalisation shifts.
    near = (a_frac ^ rng.integers(0, 1 << 8, n).astype(np.uint32)) & 0x7FFFFF
    b = np.where(kind == 2, _compose(1 - (a >> 31), a_exp, near), b)
    # Exponent sums past the range: overflow and underflow in mul.
    big = rng.integers(190, 255, n)
    small = rng.integers(0, 64, n)
    b = np.where(kind == 3, _compose(rng.integers(0, 2, n), np.where(a_exp > 127, big, small),
                                     rng.integers(0, 1 << 23, n)), b)
    # Top-heavy fractions: exact products and product ties in mul.
    top = rng.integers(0, 1 << 12, n) << 11
    a = np.where(kind == 4, (a & 0xFF800000) | (a_frac & 0x7FF800), a)
    b = np.where(kind == 4, (b & 0xFF800000) | top, b)
    return a.astype(np.uint32), b.astype(np.uint32)


def hard_bf16_pairs(rng, n):
    """``n`` bfloat16 operand pairs: the top halves of hard binary32 pairs."""
    a, b = hard_f32_pairs(rng, n)
    a, b = (a >> 16).astype(np.uint16), (b >> 16).astype(np.uint16)
    kind = rng.integers(0, 4, n)  # and pairs whose exact product leaves binary32
    ext = rng.choice([0x0080, 0x0001, 0x007F, 0x00FF, 0x7F7F, 0x0100, 0x7F00], n).astype(np.uint16)
    a = np.where(kind == 0, ext | (rng.integers(0, 2, n) << 15).astype(np.uint16), a)
    return a.astype(np.uint16), b.astype(np.uint16)


def classify(a, b, result, exact):
    """Count hard classes: operands (zero, subnormal, inf, nan, extreme exponent) and
    results (tie, inexact, overflow, zero from nonzero operands, subnormal), given the
    float64 exact values."""
    def kinds(x):
        exp, frac = (x >> 23) & 0xFF, x & 0x7FFFFF
        return {"zero": (exp == 0) & (frac == 0), "subnormal": (exp == 0) & (frac != 0),
                "inf": (exp == 255) & (frac == 0), "nan": is_nan_f32(x),
                "extreme_exp": np.isin(exp, [1, 254])}

    ka, kb, kr = kinds(a), kinds(b), kinds(result)
    finite_ops = ~(ka["inf"] | ka["nan"] | kb["inf"] | kb["nan"])
    value = result.view(np.float32).astype(np.float64)
    with np.errstate(all="ignore"):
        inexact = finite_ops & ~kr["inf"] & (value != exact)
        up = np.nextafter(result.view(np.float32), np.float32(np.inf)).astype(np.float64)
        down = np.nextafter(result.view(np.float32), np.float32(-np.inf)).astype(np.float64)
        tie = inexact & ((exact == (value + up) / 2) | (exact == (value + down) / 2))
    counts = {f"operand_{k}": int((ka[k] | kb[k]).sum()) for k in ka}
    counts.update({
        "result_inexact": int(inexact.sum()),
        "result_tie": int(tie.sum()),
        "result_overflow": int((finite_ops & kr["inf"]).sum()),
        "result_zero_from_nonzero": int(
            (finite_ops & ~ka["zero"] & ~kb["zero"] & kr["zero"]).sum()),
        "result_subnormal": int(kr["subnormal"].sum()),
    })
    return counts
