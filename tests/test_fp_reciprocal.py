"""FP32Reciprocal: 1/x bit-exact against the golden model on hard and in-range values."""

import numpy as np
from transcendental_checks import (
    check_one_result_per_cycle,
    check_transcendental_bit_exact,
    result_classes,
)

from testbench.golden.transcendentals import f32_recip

SEEDS = [1]


def test_fp_reciprocal_bit_exact(seed, waves, run_name):
    x, got = check_transcendental_bit_exact("f32_recip", seed, waves=waves, run_name=run_name)
    reached = result_classes(x, got)
    for name in ["nan", "subnormal", "normal", "inf_from_finite"]:
        assert reached[name] >= 100, f"stimulus reached {name} only: {reached}"
    assert reached["zero_from_nonzero"] == 0  # 1/FLT_MAX is a subnormal, not zero
    subnormal_in = ((x & 0x7F800000) == 0) & ((x & 0x7FFFFF) != 0)
    assert subnormal_in.sum() >= 1000


def test_fp_reciprocal_special_values():
    x = np.array([0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00001, 0x3F800000,
                  0xC0000000, 0x00400000, 0x00200000, 0x7F7FFFFF, 0x40400000, 0x00800000],
                 dtype=np.uint32)
    want = [0x7F800000, 0xFF800000, 0x00000000, 0x80000000, 0x7FC00000, 0x3F800000,
            0xBF000000, 0x7F000000, 0x7F800000, 0x00200000, 0x3EAAAAAB, 0x7E800000]
    assert [f"{v:08x}" for v in f32_recip(x)] == [f"{v:08x}" for v in want]


def test_fp_reciprocal_one_result_per_cycle(run_name):
    check_one_result_per_cycle("f32_recip", 3, run_name=run_name)
