"""FPMultiplier: fp32 x fp32 and exact bf16 x bf16 -> fp32, bit-exact on hard vectors."""

import numpy as np
import pytest
from numerics_checks import check_op_bit_exact

from testbench.golden.fp_vectors import classify
from testbench.golden.numerics import bf16_to_f32

SEEDS = [1]


@pytest.mark.parametrize("op", ["f32_mul", "bf16_mul_f32"])
def test_fp_multiplier_bit_exact(op, seed, waves, run_name):
    (a, b), got = check_op_bit_exact(op, seed, waves=waves, run_name=run_name)
    if op == "bf16_mul_f32":
        a, b = bf16_to_f32(a), bf16_to_f32(b)
    fa, fb = (x.view(np.float32).astype(np.float64) for x in (a, b))
    with np.errstate(all="ignore"):
        reached = classify(a, b, got.astype(np.uint32), fa * fb)
    for hard_class in ["operand_zero", "operand_subnormal", "operand_inf", "operand_nan",
                       "operand_extreme_exp", "result_tie", "result_overflow",
                       "result_zero_from_nonzero", "result_subnormal"]:
        assert reached[hard_class] >= 100, f"stimulus reached {hard_class} only {reached}"
