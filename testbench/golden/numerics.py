"""Bit-exact golden models of the arithmetic units (docs/architecture.md section 5).

Every function takes and returns raw bit patterns as NumPy unsigned arrays
(``uint32`` for binary32, ``uint16`` for bfloat16) so NaN payloads and signed
zeros survive. Float arithmetic uses NumPy's IEEE binary32 (round-to-nearest-
even, subnormals kept); the functions add what IEEE leaves open: the canonical
NaN, and -0 < +0 for max and min.
"""

import numpy as np

CANONICAL_NAN_FP32 = np.uint32(0x7FC00000)
CANONICAL_NAN_BF16 = np.uint16(0x7FC0)

__all__ = [
    "f32_add", "f32_sub", "f32_mul", "bf16_mul_f32", "f32_max", "f32_min",
    "f32_lt", "f32_le", "f32_eq", "f32_to_bf16", "bf16_to_f32", "is_nan_f32",
    "int_op", "INT_OPS",
]


def _u32(x):
    return np.asarray(x, dtype=np.uint32)


def is_nan_f32(x):
    x = _u32(x)
    return ((x & 0x7F800000) == 0x7F800000) & ((x & 0x007FFFFF) != 0)


def _canonical(bits):
    bits = _u32(bits).copy()
    bits[is_nan_f32(bits)] = CANONICAL_NAN_FP32
    return bits


def _as_f32(x):
    return _u32(x).view(np.float32)


def f32_add(a, b):
    with np.errstate(all="ignore"):
        return _canonical((_as_f32(a) + _as_f32(b)).view(np.uint32))


def f32_sub(a, b):
    with np.errstate(all="ignore"):
        return _canonical((_as_f32(a) - _as_f32(b)).view(np.uint32))


def f32_mul(a, b):
    with np.errstate(all="ignore"):
        return _canonical((_as_f32(a) * _as_f32(b)).view(np.uint32))


def bf16_to_f32(x):
    """Widen bfloat16 bit patterns to binary32 (exact)."""
    return np.asarray(x, dtype=np.uint16).astype(np.uint32) << 16


def bf16_mul_f32(a, b):
    """Product of two bfloat16 values rounded once to binary32.

    Exact unless it over- or underflows binary32 (bf16 and fp32 share the
    exponent range; the 16-bit significand product always fits in 24 bits).
    """
    return f32_mul(bf16_to_f32(a), bf16_to_f32(b))


def _order_key(x):
    """Unsigned key whose order is the total order of non-NaN values, -0 < +0."""
    x = _u32(x)
    return np.where(x >> 31 != 0, ~x, x | np.uint32(0x80000000))


def f32_max(a, b):
    a, b = _u32(a), _u32(b)
    r = np.where(_order_key(a) >= _order_key(b), a, b)
    return np.where(is_nan_f32(a) | is_nan_f32(b), CANONICAL_NAN_FP32, r).astype(np.uint32)


def f32_min(a, b):
    a, b = _u32(a), _u32(b)
    r = np.where(_order_key(a) <= _order_key(b), a, b)
    return np.where(is_nan_f32(a) | is_nan_f32(b), CANONICAL_NAN_FP32, r).astype(np.uint32)


def f32_lt(a, b):
    return (_as_f32(a) < _as_f32(b)).astype(np.uint32)


def f32_le(a, b):
    return (_as_f32(a) <= _as_f32(b)).astype(np.uint32)


def f32_eq(a, b):
    return (_as_f32(a) == _as_f32(b)).astype(np.uint32)


def f32_to_bf16(x):
    """Round binary32 to bfloat16, nearest-even; NaN becomes 0x7FC0."""
    x = _u32(x)
    upper, lower = x >> 16, x & 0xFFFF
    round_up = (lower > 0x8000) | ((lower == 0x8000) & ((upper & 1) == 1))
    r = ((upper + round_up) & 0xFFFF).astype(np.uint16)
    return np.where(is_nan_f32(x), CANONICAL_NAN_BF16, r).astype(np.uint16)


def _shift(b):
    return _u32(b) & 31


INT_OPS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "shl": lambda a, b: a << _shift(b),
    "shr": lambda a, b: a >> _shift(b),
    "sra": lambda a, b: (a.view(np.int32) >> _shift(b).astype(np.int32)).view(np.uint32),
    "and": lambda a, b: a & b,
    "or": lambda a, b: a | b,
    "xor": lambda a, b: a ^ b,
}


def int_op(name, a, b):
    """int32 ALU operation ``name`` (a key of INT_OPS) on uint32 bit patterns, wrapping."""
    with np.errstate(over="ignore"):
        return INT_OPS[name](_u32(a), _u32(b)).astype(np.uint32)
