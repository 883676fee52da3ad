"""Int32ALU: every operation bit-exact against wrapping NumPy uint32 arithmetic."""

import pytest
from numerics_checks import check_op_bit_exact

SEEDS = [1]


@pytest.mark.parametrize("op", ["i32_add", "i32_sub", "i32_mul", "i32_shl", "i32_shr", "i32_sra",
                                "i32_and", "i32_or", "i32_xor"])
def test_int32_alu_bit_exact(op, seed, waves, run_name):
    check_op_bit_exact(op, seed, waves=waves, run_name=run_name)
