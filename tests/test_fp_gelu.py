"""FP32GELU (tanh form): bit-exact against the golden model on hard and in-range values."""

import numpy as np
from transcendental_checks import (
    check_one_result_per_cycle,
    check_transcendental_bit_exact,
    result_classes,
)

from testbench.golden.transcendentals import f32_gelu

SEEDS = [1]


def test_fp_gelu_bit_exact(seed, waves, run_name):
    x, got = check_transcendental_bit_exact("f32_gelu", seed, waves=waves, run_name=run_name)
    reached = result_classes(x, got)
    for name in ["nan", "zero_from_nonzero", "subnormal", "normal"]:
        assert reached[name] >= 100, f"stimulus reached {name} only: {reached}"


def test_fp_gelu_special_values():
    x = np.array([0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0xFF800001, 0x41800000,
                  0xC1800000, 0x7F7FFFFF, 0x3F800000, 0xBF800000], dtype=np.uint32)
    ref = np.float32([0.0, -0.0, np.inf, -0.0, np.nan, 16.0, -0.0, 3.4028235e38,
                      0.8411920070648193, -0.15880800783634186]).view(np.uint32)
    ref[4] = 0x7FC00000
    assert [f"{v:08x}" for v in f32_gelu(x)] == [f"{v:08x}" for v in ref]


def test_fp_gelu_one_result_per_cycle(run_name):
    check_one_result_per_cycle("f32_gelu", 3, run_name=run_name)
