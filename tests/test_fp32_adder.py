"""FP32Adder: add and subtract bit-exact against the golden model on hard vectors."""

import numpy as np
import pytest
from numerics_checks import check_op_bit_exact

from testbench.golden.fp_vectors import classify

SEEDS = [1]


@pytest.mark.parametrize("op", ["f32_add", "f32_sub"])
def test_fp32_adder_bit_exact(op, seed, waves, run_name):
    (a, b), got = check_op_bit_exact(op, seed, waves=waves, run_name=run_name)
    fa, fb = (x.view(np.float32).astype(np.float64) for x in (a, b))
    with np.errstate(all="ignore"):
        exact = fa + fb if op == "f32_add" else fa - fb
    reached = classify(a, b, got.astype(np.uint32), exact)
    for hard_class in ["operand_zero", "operand_subnormal", "operand_inf", "operand_nan",
                       "operand_extreme_exp", "result_tie", "result_overflow",
                       "result_zero_from_nonzero", "result_subnormal"]:
        assert reached[hard_class] >= 100, f"stimulus reached {hard_class} only {reached}"
