"""Shared check for the arithmetic-unit tests: hard vectors through RTL vs golden model."""

import numpy as np

from testbench.cli.numerics_ops import NUMERIC_OPS, run_on_rtl
from testbench.golden.fp_vectors import hard_bf16_pairs, hard_f32_pairs, hard_f32_values

VECTORS_PER_OP = 100_000


def operands_for(op_name: str, rng, count: int = VECTORS_PER_OP):
    op = NUMERIC_OPS[op_name]
    if op.arity == 1:
        return [hard_f32_values(rng, count)]
    if op.operand_bits == 16:
        return list(hard_bf16_pairs(rng, count))
    if op.unit == "int32_alu":
        a = rng.integers(0, 1 << 32, count, dtype=np.uint64).astype(np.uint32)
        b = rng.integers(0, 1 << 32, count, dtype=np.uint64).astype(np.uint32)
        corners = np.array([0, 1, 31, 32, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF], dtype=np.uint32)
        pick = rng.integers(0, 4, count)
        a = np.where(pick == 0, rng.choice(corners, count), a)
        b = np.where(pick == 1, rng.choice(corners, count), b)
        b = np.where(pick == 2, rng.integers(0, 40, count).astype(np.uint32), b)
        return [a.astype(np.uint32), b.astype(np.uint32)]
    return list(hard_f32_pairs(rng, count))


def check_op_bit_exact(op_name: str, seed: int, *, waves=False, run_name=None, lanes=8,
                       in_stall=0.2, out_stall=0.2, count=VECTORS_PER_OP):
    """Run ``count`` hard vectors of ``op_name`` with stalls; assert every result bit-exact."""
    rng = np.random.default_rng([seed, sum(op_name.encode())])
    operands = operands_for(op_name, rng, count)
    got, _ = run_on_rtl(op_name, operands, lanes=lanes, seed=seed, in_stall=in_stall,
                        out_stall=out_stall, waves=waves, run_name=run_name)
    want = NUMERIC_OPS[op_name].expected(*operands)
    bad = np.nonzero(got != want)[0]
    if len(bad):
        width = 4 if NUMERIC_OPS[op_name].operand_bits == 16 else 8
        lines = [" ".join(f"{int(x[i]):0{width}x}" for x in operands) +
                 f" expected {int(want[i]):08x} got {int(got[i]):08x}" for i in bad[:10]]
        raise AssertionError(f"{op_name}: {len(bad)} of {count} results differ (seed {seed}):\n"
                             + "\n".join(lines))
    return operands, got
