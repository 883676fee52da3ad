"""FP32Exp: e**x bit-exact against the golden model on hard and in-range values."""

import numpy as np
from transcendental_checks import (
    check_one_result_per_cycle,
    check_transcendental_bit_exact,
    result_classes,
)

from testbench.golden.transcendentals import f32_exp

SEEDS = [1]


def test_fp_exp_bit_exact(seed, waves, run_name):
    x, got = check_transcendental_bit_exact("f32_exp", seed, waves=waves, run_name=run_name)
    reached = result_classes(x, got)
    for name in ["nan", "zero_from_nonzero", "subnormal", "normal", "inf_from_finite"]:
        assert reached[name] >= 100, f"stimulus reached {name} only: {reached}"
    assert (got[x == 0] == 0x3F800000).all() and (x == 0).any()


def test_fp_exp_special_values():
    x = np.array([0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFF800001,
                  0x42B17218, 0x42B17217, 0xC2CFF1B5, 0xC2CE8ED0, 0x43000000, 0xC3000000],
                 dtype=np.uint32)
    want = [0x3F800000, 0x3F800000, 0x7F800000, 0x00000000, 0x7FC00000, 0x7FC00000,
            0x7F800000, 0x7F7FFF84, 0x00000000, 0x00000001, 0x7F800000, 0x00000000]
    assert [f"{v:08x}" for v in f32_exp(x)] == [f"{v:08x}" for v in want]


def test_fp_exp_one_result_per_cycle(run_name):
    check_one_result_per_cycle("f32_exp", 3, run_name=run_name)
