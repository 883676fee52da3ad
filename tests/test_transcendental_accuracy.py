"""Accuracy of the transcendental golden models against float64 math (separate from bit-exactness).

The RTL equals the golden model bit for bit (tests/test_fp_*.py); here the golden
model's results are compared with the float64 function value. The error is
measured in units in the last place of the binary32 format at the exact value
(below 2**-126 the subnormal spacing 2**-149). Exact values at or beyond the
rounding boundary to infinity must give infinity.

Bound asserted (TRANSCENDENTALS.md states the measured maxima): 0.75 ulp for each
function, stricter than the required 2 ulp (reciprocal, rsqrt) and 4 ulp (exp).
"""

import numpy as np
import pytest
from transcendental_checks import domain_values

from testbench.golden import transcendentals as t
from testbench.golden.fp_vectors import hard_f32_values

N = 400_000
_GELU_K = 2.0 * np.sqrt(2.0 / np.pi)

FUNCTIONS = {
    "f32_exp": (t.f32_exp, np.exp),
    "f32_recip": (t.f32_recip, lambda v: 1.0 / v),
    "f32_rsqrt": (t.f32_rsqrt, lambda v: 1.0 / np.sqrt(v)),
    "f32_silu": (t.f32_silu, lambda v: v / (1.0 + np.exp(-v))),
    "f32_gelu": (t.f32_gelu, lambda v: v / (1.0 + np.exp(-_GELU_K * (v + 0.044715 * v ** 3)))),
}
BOUND_ULP = dict.fromkeys(FUNCTIONS, 0.75)

OVERFLOW = 2.0 ** 128 * (1 - 2.0 ** -25)  # exact values from here on round to infinity


def ulp_errors(x, got, reference):
    """Errors of ``got`` in ulps of the exact values, for finite x with a real result."""
    with np.errstate(all="ignore"):  # signalling NaN inputs, overflow in float64
        xf = x.view(np.float32).astype(np.float64)
        exact = reference(xf)
    keep = np.isfinite(xf) & ~np.isnan(exact)
    exact, got, xk = exact[keep], got[keep], x[keep]
    value = got.view(np.float32).astype(np.float64)
    over = np.abs(exact) >= OVERFLOW
    assert (value[over] == np.copysign(np.inf, exact[over])).all(), "overflow must give inf"
    exact, value, xk = exact[~over], value[~over], xk[~over]
    _, e = np.frexp(exact)
    ulp = np.ldexp(1.0, np.maximum(e - 1, -126) - 23)
    with np.errstate(invalid="ignore"):
        err = np.abs(value - exact) / ulp
    err[~np.isfinite(value)] = np.inf
    return xk, err


def _inputs(op_name, rng):
    return np.concatenate([hard_f32_values(rng, N), domain_values(op_name, rng, N),
                           rng.integers(0, 1 << 32, N, dtype=np.uint64).astype(np.uint32)])


def max_ulp_error(op_name, x):
    golden, reference = FUNCTIONS[op_name]
    xk, err = ulp_errors(x, golden(x), reference)
    worst = int(np.argmax(err))
    return float(err[worst]), int(xk[worst]), len(err)


@pytest.mark.parametrize("op_name", list(FUNCTIONS))
def test_max_ulp_error_within_bound(op_name):
    rng = np.random.default_rng([7, sum(op_name.encode())])
    worst, at, count = max_ulp_error(op_name, _inputs(op_name, rng))
    print(f"{op_name}: max error {worst:.4f} ulp at x = {at:08x} over {count} inputs")
    assert worst <= BOUND_ULP[op_name], f"{op_name}: {worst} ulp at x = {at:08x}"
    assert count > N


def test_exact_cases_are_exact():
    """Results that are binary32 numbers come out exactly: powers of two and small integers."""
    pow2 = (np.arange(1, 254, dtype=np.uint32) << 23)
    recip = t.f32_recip(pow2).view(np.float32).astype(np.float64)
    assert np.array_equal(recip, 1.0 / pow2.view(np.float32).astype(np.float64))
    pow4 = (np.arange(1, 254, 2, dtype=np.uint32) << 23)
    rsqrt = t.f32_rsqrt(pow4).view(np.float32).astype(np.float64)
    assert np.array_equal(rsqrt, 1.0 / np.sqrt(pow4.view(np.float32).astype(np.float64)))
    assert t.f32_exp(np.array([0, 0x80000000], dtype=np.uint32)).tolist() == [0x3F800000] * 2


@pytest.mark.regress
@pytest.mark.parametrize("op_name", ["f32_recip", "f32_rsqrt"])
def test_every_significand_of_two_binades(op_name):
    """Every significand of [1, 4) (both rsqrt table banks; every reciprocal segment twice)."""
    x = np.arange(0x3F800000, 0x40800000, dtype=np.uint32)
    for chunk in np.array_split(x, 16):
        worst, at, _ = max_ulp_error(op_name, chunk)
        print(f"{op_name}: max error {worst:.4f} ulp at x = {at:08x}")
        assert worst <= BOUND_ULP[op_name], f"{op_name}: {worst} ulp at x = {at:08x}"


@pytest.mark.regress
@pytest.mark.parametrize("op_name", ["f32_exp", "f32_silu", "f32_gelu"])
def test_strided_sweep_of_the_active_range(op_name):
    """Every 61st binary32 input in [-128, 128] with |x| >= 2**-30 (about 10 million)."""
    top = 0x41800001 if op_name == "f32_gelu" else 0x43000001  # gelu: |x| <= 16
    pos = np.arange(0x30800000, top, 61, dtype=np.uint32)
    for x in (pos, pos | np.uint32(0x80000000)):
        for chunk in np.array_split(x, 16):
            worst, at, _ = max_ulp_error(op_name, chunk)
            print(f"{op_name}: max error {worst:.4f} ulp at x = {at:08x}")
            assert worst <= BOUND_ULP[op_name], f"{op_name}: {worst} ulp at x = {at:08x}"
