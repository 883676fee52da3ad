"""The arithmetic units by name, and lane arrays of them (for tests, CLI and FPGA)."""

from .formats import BF16, FP32
from .fp_add import FP32Adder
from .fp_compare import FP32Compare
from .fp_exp import FP32Exp
from .fp_gelu import FP32GELU
from .fp_mul import FPMultiplier
from .fp_reciprocal import FP32Reciprocal
from .fp_rsqrt import FP32Rsqrt
from .fp_silu import FP32SiLU
from .fp_to_bf16 import FP32ToBF16
from .int_alu import Int32ALU
from .lane_array import LaneArray

__all__ = ["NUMERIC_UNITS", "numeric_unit", "numeric_array", "operand_layout"]

NUMERIC_UNITS = {
    "fp32_add": FP32Adder,
    "fp32_mul": lambda: FPMultiplier(FP32),
    "bf16_mul": lambda: FPMultiplier(BF16),
    "fp32_compare": FP32Compare,
    "fp32_to_bf16": FP32ToBF16,
    "int32_alu": Int32ALU,
    "fp32_exp": FP32Exp,
    "fp32_recip": FP32Reciprocal,
    "fp32_rsqrt": FP32Rsqrt,
    "fp32_silu": FP32SiLU,
    "fp32_gelu": FP32GELU,
}


def numeric_unit(unit: str):
    """One arithmetic unit by name (a key of NUMERIC_UNITS)."""
    try:
        return NUMERIC_UNITS[unit]()
    except KeyError:
        raise ValueError(f"unknown arithmetic unit {unit!r}; known: "
                         f"{', '.join(NUMERIC_UNITS)}") from None


def numeric_array(unit: str, lanes: int = 8) -> LaneArray:
    """``lanes`` copies of the named unit behind one stream."""
    if unit not in NUMERIC_UNITS:
        numeric_unit(unit)
    return LaneArray(NUMERIC_UNITS[unit], lanes)


def operand_layout(unit: str):
    """The operand payload shape of the named unit (a StructLayout or a plain shape)."""
    instance = numeric_unit(unit)
    instance._MustUse__silence = True  # built only to read its signature
    return instance.i.payload.shape()
