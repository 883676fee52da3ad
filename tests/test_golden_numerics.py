"""The numerics golden model checked against independent references.

binary32 add/sub/mul: the float64 result rounded once to binary32 is correctly
rounded (float64 carries more than 2 x 24 + 2 significand bits), so it is an
independent reference. bfloat16 rounding: ml_dtypes. Comparisons: Python floats.
"""

import ml_dtypes
import numpy as np
import pytest

from testbench.golden import numerics as g
from testbench.golden.fp_vectors import hard_f32_pairs, hard_f32_values

N = 200_000


def _canonical(bits):
    bits = bits.astype(np.uint32)
    return np.where(g.is_nan_f32(bits), np.uint32(0x7FC00000), bits)


@pytest.fixture(scope="module")
def pairs():
    return hard_f32_pairs(np.random.default_rng(11), N)


@pytest.mark.parametrize("name,fn,ref", [
    ("add", g.f32_add, np.add), ("sub", g.f32_sub, np.subtract), ("mul", g.f32_mul, np.multiply),
])
def test_arith_matches_float64_rounded_once(pairs, name, fn, ref):
    a, b = pairs
    with np.errstate(all="ignore"):
        wide = ref(a.view(np.float32).astype(np.float64), b.view(np.float32).astype(np.float64))
        want = _canonical(wide.astype(np.float32).view(np.uint32))
    assert np.array_equal(fn(a, b), want)


def test_nan_results_are_canonical(pairs):
    a, b = pairs
    for fn in (g.f32_add, g.f32_mul, g.f32_max, g.f32_min):
        r = fn(a, b)
        nan = g.is_nan_f32(r)
        assert nan.sum() > 100
        assert (r[nan] == 0x7FC00000).all()


def test_bf16_mul_is_exact_in_range():
    rng = np.random.default_rng(3)
    a = rng.integers(0x3000, 0x4F00, N).astype(np.uint16)  # products stay well inside binary32
    b = rng.integers(0x3000, 0x4F00, N).astype(np.uint16)
    exact = (g.bf16_to_f32(a).view(np.float32).astype(np.float64)
             * g.bf16_to_f32(b).view(np.float32).astype(np.float64))
    assert np.array_equal(g.bf16_mul_f32(a, b).view(np.float32).astype(np.float64), exact)


def test_f32_to_bf16_matches_ml_dtypes():
    x = np.concatenate([hard_f32_values(np.random.default_rng(5), N),
                        np.arange(0, 1 << 32, 65521, dtype=np.uint64).astype(np.uint32)])
    ref = x.view(np.float32).astype(ml_dtypes.bfloat16).view(np.uint16)
    ref = np.where(np.isnan(x.view(np.float32)), np.uint16(0x7FC0), ref)
    assert np.array_equal(g.f32_to_bf16(x), ref)


def test_comparisons_match_python_floats(pairs):
    a, b = pairs
    a, b = a[:20000], b[:20000]
    pairs = list(zip(a.view(np.float32).tolist(), b.view(np.float32).tolist(), strict=True))
    assert g.f32_lt(a, b).tolist() == [int(x < y) for x, y in pairs]
    assert g.f32_le(a, b).tolist() == [int(x <= y) for x, y in pairs]
    assert g.f32_eq(a, b).tolist() == [int(x == y) for x, y in pairs]


def test_max_min_order_signed_zeros_and_propagate_nan():
    pz, nz, one, nan = (np.uint32(v) for v in (0, 0x80000000, 0x3F800000, 0x7FC00001))
    assert g.f32_max([pz], [nz])[0] == pz and g.f32_max([nz], [pz])[0] == pz
    assert g.f32_min([pz], [nz])[0] == nz and g.f32_min([nz], [pz])[0] == nz
    assert g.f32_max([one], [nan])[0] == 0x7FC00000
    assert g.f32_min([nan], [one])[0] == 0x7FC00000


def test_max_min_agree_with_float_order(pairs):
    a, b = pairs
    ordinary = ~(g.is_nan_f32(a) | g.is_nan_f32(b)) & ((a | b) & 0x7FFFFFFF != 0)
    fa, fb = a.view(np.float32), b.view(np.float32)
    assert np.array_equal(g.f32_max(a, b)[ordinary].view(np.float32),
                          np.maximum(fa, fb)[ordinary])
    assert np.array_equal(g.f32_min(a, b)[ordinary].view(np.float32),
                          np.minimum(fa, fb)[ordinary])


@pytest.mark.parametrize("name", sorted(g.INT_OPS))
def test_int_ops_match_python_ints(name):
    rng = np.random.default_rng(7)
    a = rng.integers(0, 1 << 32, 5000, dtype=np.uint64).astype(np.uint32)
    b = rng.integers(0, 1 << 32, 5000, dtype=np.uint64).astype(np.uint32)
    python = {
        "add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
        "shl": lambda x, y: x << (y & 31), "shr": lambda x, y: x >> (y & 31),
        "sra": lambda x, y: (x - ((x >> 31) << 32)) >> (y & 31),
        "and": lambda x, y: x & y, "or": lambda x, y: x | y, "xor": lambda x, y: x ^ y,
    }[name]
    want = [python(int(x), int(y)) & 0xFFFFFFFF for x, y in zip(a, b, strict=True)]
    assert g.int_op(name, a, b).tolist() == want
