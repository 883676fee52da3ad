"""FP32ToBF16: round-to-nearest-even conversion bit-exact on hard values."""

import numpy as np
from numerics_checks import check_op_bit_exact

SEEDS = [1]


def test_fp32_to_bf16_bit_exact(seed, waves, run_name):
    (x,), _ = check_op_bit_exact("f32_to_bf16", seed, waves=waves, run_name=run_name)
    ties = ((x & 0xFFFF) == 0x8000).sum()
    assert ties >= 100, f"only {ties} exact ties in the stimulus"


def test_fp32_to_bf16_every_tie_and_neighbour(waves, run_name):
    """The low half at, just below and just above the midpoint, for odd and even top halves."""
    top = np.arange(0, 1 << 16, 7, dtype=np.uint32) << 16
    x = np.concatenate([top | 0x8000, top | 0x7FFF, top | 0x8001, top | 0xFFFF])
    from testbench.cli.numerics_ops import run_on_rtl
    from testbench.golden.numerics import f32_to_bf16
    got, _ = run_on_rtl("f32_to_bf16", [x], run_name=run_name, waves=waves)
    assert np.array_equal(got, f32_to_bf16(x).astype(np.uint64))
