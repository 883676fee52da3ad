"""FP32Rsqrt: 1/sqrt(x) bit-exact against the golden model on hard and in-range values."""

import numpy as np
from transcendental_checks import (
    check_one_result_per_cycle,
    check_transcendental_bit_exact,
    result_classes,
)

from testbench.golden.transcendentals import f32_rsqrt

SEEDS = [1]


def test_fp_rsqrt_bit_exact(seed, waves, run_name):
    x, got = check_transcendental_bit_exact("f32_rsqrt", seed, waves=waves, run_name=run_name)
    reached = result_classes(x, got)
    for name in ["nan", "normal", "inf_from_finite"]:
        assert reached[name] >= 100, f"stimulus reached {name} only: {reached}"
    positive_subnormal = (x > 0) & (x < 0x00800000)
    assert positive_subnormal.sum() >= 1000
    assert (got[(x >> 31 == 1) & ((x & 0x7FFFFFFF) != 0)] == 0x7FC00000).all()


def test_fp_rsqrt_special_values():
    x = np.array([0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0xBF800000, 0x80000001,
                  0x7FC00001, 0x3F800000, 0x40800000, 0x3E800000, 0x00000001, 0x7F7FFFFF],
                 dtype=np.uint32)
    want = [0x7F800000, 0xFF800000, 0x00000000, 0x7FC00000, 0x7FC00000, 0x7FC00000,
            0x7FC00000, 0x3F800000, 0x3F000000, 0x40000000, 0x64B504F3, 0x1F800000]
    assert [f"{v:08x}" for v in f32_rsqrt(x)] == [f"{v:08x}" for v in want]


def test_fp_rsqrt_one_result_per_cycle(run_name):
    check_one_result_per_cycle("f32_rsqrt", 3, run_name=run_name)
