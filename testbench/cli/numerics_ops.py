"""Arithmetic operations by name: which RTL unit runs them and which golden model checks them.

This is the single table behind the numerics tests, ``rdu testfloat``,
``rdu bench fp`` and the demo.
"""

from dataclasses import dataclass, field

import numpy as np

from hdl.numerics.catalog import operand_layout
from hdl.numerics.fp_compare import CompareOp
from hdl.numerics.int_alu import IntOp

from ..golden import numerics as golden
from ..golden import transcendentals
from ..sim.build_cache import Design
from ..sim.packing import pack_beats, unpack_beats
from ..sim.runner import simulate

__all__ = [
    "NumericOp", "NUMERIC_OPS", "lane_array_design", "run_on_rtl", "run_on_rtl_timed",
    "pack_operands",
]


@dataclass(frozen=True)
class NumericOp:
    """One operation: the unit that runs it, constant operand fields, and its golden model."""

    unit: str
    golden: object
    operand_bits: int = 32
    arity: int = 2
    result_bits: int = 32
    fixed: dict = field(default_factory=dict)

    def expected(self, *operands) -> np.ndarray:
        return np.asarray(self.golden(*operands)).astype(np.uint64)


def _int(name, op):
    return NumericOp("int32_alu", lambda a, b: golden.int_op(name, a, b), fixed={"op": op.value})


NUMERIC_OPS = {
    "f32_add": NumericOp("fp32_add", golden.f32_add, fixed={"sub": 0}),
    "f32_sub": NumericOp("fp32_add", golden.f32_sub, fixed={"sub": 1}),
    "f32_mul": NumericOp("fp32_mul", golden.f32_mul),
    "bf16_mul_f32": NumericOp("bf16_mul", golden.bf16_mul_f32, operand_bits=16),
    "f32_max": NumericOp("fp32_compare", golden.f32_max, fixed={"op": CompareOp.MAX.value}),
    "f32_min": NumericOp("fp32_compare", golden.f32_min, fixed={"op": CompareOp.MIN.value}),
    "f32_lt": NumericOp("fp32_compare", golden.f32_lt, fixed={"op": CompareOp.LT.value}),
    "f32_le": NumericOp("fp32_compare", golden.f32_le, fixed={"op": CompareOp.LE.value}),
    "f32_eq": NumericOp("fp32_compare", golden.f32_eq, fixed={"op": CompareOp.EQ.value}),
    "f32_to_bf16": NumericOp("fp32_to_bf16", golden.f32_to_bf16, arity=1, result_bits=16),
    **{f"i32_{name}": _int(name, op) for name, op in [
        ("add", IntOp.ADD), ("sub", IntOp.SUB), ("mul", IntOp.MUL), ("shl", IntOp.SHL),
        ("shr", IntOp.SHR), ("sra", IntOp.SRA), ("and", IntOp.AND), ("or", IntOp.OR),
        ("xor", IntOp.XOR)]},
    "f32_exp": NumericOp("fp32_exp", transcendentals.f32_exp, arity=1),
    "f32_recip": NumericOp("fp32_recip", transcendentals.f32_recip, arity=1),
    "f32_rsqrt": NumericOp("fp32_rsqrt", transcendentals.f32_rsqrt, arity=1),
    "f32_silu": NumericOp("fp32_silu", transcendentals.f32_silu, arity=1),
    "f32_gelu": NumericOp("fp32_gelu", transcendentals.f32_gelu, arity=1),
}


def lane_array_design(unit: str, lanes: int) -> Design:
    return Design(f"{unit}_x{lanes}", "hdl.numerics.catalog:numeric_array",
                  {"unit": unit, "lanes": lanes})


def _element_fields(unit: str):
    """(name, width) of the unit's operand fields from its Amaranth layout, LSB first."""
    shape = operand_layout(unit)
    if not hasattr(shape, "members"):
        return [(None, shape.width)]
    fields = sorted(((name, f.offset, f.width) for name, f in shape), key=lambda t: t[1])
    return [(name, width) for name, _, width in fields]


def pack_operands(op_name: str, operands, lanes: int) -> np.ndarray:
    """Stream beats (uint8 rows) carrying ``operands`` to a lane array of the op's unit.

    The last beat is padded with zero operands.
    """
    op = NUMERIC_OPS[op_name]
    if len(operands) != op.arity:
        raise ValueError(f"{op_name} takes {op.arity} operands, not {len(operands)}")
    count = len(operands[0])
    padded = -(-count // lanes) * lanes
    values = [np.zeros(padded, dtype=np.uint64) for _ in operands]
    for dst, src in zip(values, operands, strict=True):
        dst[:count] = np.asarray(src, dtype=np.uint64)
    fields = []
    operand_iter = iter(values)
    for name, width in _element_fields(op.unit):
        if name in op.fixed:
            fields.append((np.full(padded, op.fixed[name], dtype=np.uint64), width))
        else:
            fields.append((next(operand_iter), width))
    return pack_beats(fields, lanes)


def run_on_rtl(op_name: str, operands, **kwargs):
    """Run ``operands`` (one uint array per operand) through the RTL; return (results, cycles).

    Keyword arguments: ``lanes``, ``seed``, ``in_stall``, ``out_stall``, ``waves``,
    ``run_name``, ``log`` (see :func:`run_on_rtl_timed`).
    """
    results, outputs = run_on_rtl_timed(op_name, operands, **kwargs)
    return results, int(outputs["cycles"])


def run_on_rtl_timed(op_name: str, operands, *, lanes: int = 8, seed: int = 1,
                     in_stall: float = 0.0, out_stall: float = 0.0, waves: bool = False,
                     run_name: str | None = None, log=print):
    """Like :func:`run_on_rtl`, returning the simulation's raw outputs (cycles, seconds)."""
    op = NUMERIC_OPS[op_name]
    count = len(operands[0])
    beats = pack_operands(op_name, operands, lanes)
    out_bytes = -(-op.result_bits * lanes // 8)
    result = simulate(
        lane_array_design(op.unit, lanes), "testbench.cocotb_tests.stream_player",
        run_name=run_name or f"{op_name}_x{lanes}_seed{seed}", seed=seed, waves=waves, log=log,
        args={"in_stall": in_stall, "out_stall": out_stall, "out_bytes": out_bytes},
        inputs={"beats": beats},
    )
    out = unpack_beats(result.outputs["beats"], op.result_bits, lanes)[:count]
    return out, result.outputs
