"""FP32Compare: max, min, lt, le, eq bit-exact on hard vectors (signed zeros, NaNs, equal pairs)."""

import pytest
from numerics_checks import check_op_bit_exact

SEEDS = [1]


@pytest.mark.parametrize("op", ["f32_max", "f32_min", "f32_lt", "f32_le", "f32_eq"])
def test_fp32_compare_bit_exact(op, seed, waves, run_name):
    (a, b), got = check_op_bit_exact(op, seed, waves=waves, run_name=run_name)
    if op == "f32_eq":
        assert got.sum() >= 1000, "the stimulus should contain many equal pairs"
