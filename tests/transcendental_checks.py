"""Shared stimulus and checks for the transcendental-unit tests (exp, recip, rsqrt, silu).

``domain_values`` adds, to the generic hard binary32 values, inputs where each
function is interesting: its finite range, the boundaries of overflow,
subnormal results and underflow, segment edges of its table, exact cases.
"""

import numpy as np
from numerics_checks import VECTORS_PER_OP, operands_for

from testbench.cli.numerics_ops import NUMERIC_OPS, run_on_rtl
from testbench.golden.numerics import is_nan_f32

LANES = 2


def _f32(values):
    return np.asarray(values, dtype=np.float32).view(np.uint32)


def _neighbours(centres, rng, n, spread=64):
    """Bit patterns within ``spread`` ulps of the binary32 ``centres``."""
    base = _f32(centres).astype(np.int64)
    picked = rng.choice(base, n) + rng.integers(-spread, spread + 1, n)
    return picked.astype(np.uint32)


def _segment_edges(rng, n, index_bits, exp_lo, exp_hi, sign=None):
    """Significands at or next to a table segment boundary, random exponents."""
    u_bits = 23 - index_bits
    seg = rng.integers(0, 1 << index_bits, n) << u_bits
    low = rng.choice([0, 1, 2, (1 << u_bits) - 1, (1 << u_bits) - 2], n)
    exp = rng.integers(exp_lo, exp_hi + 1, n)
    sign = rng.integers(0, 2, n) if sign is None else np.full(n, sign)
    return ((sign << 31) | (exp << 23) | seg | low).astype(np.uint32)


def _uniform(rng, n, lo, hi):
    return _f32(rng.uniform(lo, hi, n))


def _log_uniform(rng, n, exp_lo, exp_hi, sign=None):
    """Random significands with exponent fields in [exp_lo, exp_hi]."""
    sign = rng.integers(0, 2, n) if sign is None else np.full(n, sign)
    exp = rng.integers(exp_lo, exp_hi + 1, n)
    return ((sign << 31) | (exp << 23) | rng.integers(0, 1 << 23, n)).astype(np.uint32)


def domain_values(op_name: str, rng, n: int) -> np.ndarray:
    """``n`` inputs concentrated where ``op_name`` is interesting."""
    k = n // 4
    if op_name == "f32_exp":
        parts = [_uniform(rng, k, -104.0, 89.0),
                 _neighbours([88.72284, -87.33655, -103.27893, -103.97208, 0.0], rng, k),
                 _log_uniform(rng, k, 100, 133),            # 2**-27 <= |x| < 128
                 _f32(np.round(rng.uniform(-149, 128, n - 3 * k)) * np.log(2.0))]
    elif op_name == "f32_recip":
        parts = [_segment_edges(rng, k, 8, 1, 254),
                 _log_uniform(rng, k, 250, 254),             # subnormal results
                 _log_uniform(rng, k, 0, 2),                 # subnormal inputs: overflow edge
                 _log_uniform(rng, n - 3 * k, 1, 254)]
    elif op_name == "f32_rsqrt":
        parts = [_segment_edges(rng, k, 7, 0, 254, sign=0),
                 _log_uniform(rng, k, 0, 0, sign=0),         # subnormal inputs
                 (rng.integers(1, 254, k) << 23).astype(np.uint32),  # powers of two
                 _log_uniform(rng, n - 3 * k, 1, 254, sign=0)]
    elif op_name == "f32_silu":
        parts = [_uniform(rng, k, -110.0, 130.0),
                 _neighbours([-87.3, -88.7, -103.0, -104.0, -17.0, 17.0, 0.0], rng, k),
                 _log_uniform(rng, k, 90, 133),              # 2**-37 <= |x| < 128
                 _uniform(rng, n - 3 * k, -20.0, 20.0)]
    elif op_name == "f32_gelu":
        parts = [_uniform(rng, k, -12.0, 17.0),
                 _uniform(rng, k, -11.0, -8.0),              # subnormal results and underflow
                 _log_uniform(rng, k, 90, 130),              # 2**-37 <= |x| < 16
                 _neighbours([16.0, -16.0, 5.0, -5.0, 0.0], rng, n - 3 * k)]
    else:
        raise ValueError(f"no domain values for {op_name}")
    return np.concatenate(parts).astype(np.uint32)


def check_transcendental_bit_exact(op_name: str, seed: int, *, waves=False, run_name=None,
                                   count=VECTORS_PER_OP, domain_count=VECTORS_PER_OP // 2):
    """``count`` generic hard values plus ``domain_count`` domain values through the RTL
    (random stalls on both sides), every result compared with the golden model."""
    rng = np.random.default_rng([seed, sum(op_name.encode())])
    (hard,) = operands_for(op_name, rng, count)
    x = np.concatenate([hard, domain_values(op_name, rng, domain_count)])
    got, _ = run_on_rtl(op_name, [x], lanes=LANES, seed=seed, in_stall=0.2, out_stall=0.2,
                        waves=waves, run_name=run_name)
    want = NUMERIC_OPS[op_name].expected(x)
    bad = np.nonzero(got != want)[0]
    if len(bad):
        lines = [f"{int(x[i]):08x} expected {int(want[i]):08x} got {int(got[i]):08x}"
                 for i in bad[:10]]
        raise AssertionError(f"{op_name}: {len(bad)} of {len(x)} results differ (seed {seed}):\n"
                             + "\n".join(lines))
    return x, got.astype(np.uint32)


def result_classes(x, r):
    """Counts of result classes from finite inputs: zero, subnormal, normal, inf; and NaN."""
    finite = (x & 0x7F800000) != 0x7F800000
    exp, frac = (r >> 23) & 0xFF, r & 0x7FFFFF
    return {
        "nan": int(is_nan_f32(r).sum()),
        "zero_from_nonzero": int((finite & ((x & 0x7FFFFFFF) != 0) & (exp == 0)
                                  & (frac == 0)).sum()),
        "subnormal": int((finite & (exp == 0) & (frac != 0)).sum()),
        "normal": int((finite & (exp > 0) & (exp < 255)).sum()),
        "inf_from_finite": int((finite & (exp == 255) & (frac == 0)).sum()),
    }


def check_one_result_per_cycle(op_name: str, seed: int, *, beats: int = 1000, run_name=None):
    """Without stalls, ``beats`` beats take at most beats + latency + 4 cycles."""
    from hdl.numerics.catalog import numeric_unit

    unit = numeric_unit(NUMERIC_OPS[op_name].unit)
    unit._MustUse__silence = True  # built only to read its latency
    rng = np.random.default_rng(seed)
    x = domain_values(op_name, rng, beats * LANES)
    got, cycles = run_on_rtl(op_name, [x], lanes=LANES, seed=seed, run_name=run_name)
    assert np.array_equal(got, NUMERIC_OPS[op_name].expected(x))
    assert beats <= cycles <= beats + unit.latency + 4, (
        f"{op_name}: {beats} beats took {cycles} cycles (latency {unit.latency})")
    return cycles
