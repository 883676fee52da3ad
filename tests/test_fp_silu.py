"""FP32SiLU: x * sigmoid(x) bit-exact against the golden model on hard and in-range values."""

import numpy as np
from transcendental_checks import (
    check_one_result_per_cycle,
    check_transcendental_bit_exact,
    result_classes,
)

from testbench.golden.transcendentals import f32_silu

SEEDS = [1]


def test_fp_silu_bit_exact(seed, waves, run_name):
    x, got = check_transcendental_bit_exact("f32_silu", seed, waves=waves, run_name=run_name)
    reached = result_classes(x, got)
    for name in ["nan", "zero_from_nonzero", "subnormal", "normal"]:
        assert reached[name] >= 100, f"stimulus reached {name} only: {reached}"


def test_fp_silu_special_values():
    x = np.array([0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0xFF800001, 0x00000001,
                  0x00400000, 0x7F7FFFFF, 0x43000000, 0xC3000000, 0x3F800000, 0xBF800000],
                 dtype=np.uint32)
    want = [0x00000000, 0x80000000, 0x7F800000, 0x80000000, 0x7FC00000, 0x00000000,
            0x00200000, 0x7F7FFFFF, 0x43000000, 0x80000000, 0x3F3B26A8, 0xBE89B2B1]
    assert [f"{v:08x}" for v in f32_silu(x)] == [f"{v:08x}" for v in want]


def test_fp_silu_one_result_per_cycle(run_name):
    check_one_result_per_cycle("f32_silu", 3, run_name=run_name)
