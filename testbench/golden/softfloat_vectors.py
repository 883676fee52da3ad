"""TestFloat-format vectors computed by Berkeley SoftFloat (the ``softfloatpy`` binding).

An independent reference for the golden model and the RTL: the same library
TestFloat itself checks against, producing lines in ``testfloat_gen``'s format
(hex operands, hex result, hex exception flags).
"""

import numpy as np
import softfloatpy as sf

__all__ = ["SOFTFLOAT_OPS", "softfloat_results", "make_testfloat_lines"]


def _f32(bits: int):
    return sf.Float32.from_bytes(int(bits).to_bytes(4, "big"))


def _bf16_as_f32(bits: int):
    return _f32(int(bits) << 16)


def _bits(value) -> int:
    return int.from_bytes(value.to_bytes(), "big")


SOFTFLOAT_OPS = {
    "f32_add": (lambda a, b: _bits(sf.f32_add(_f32(a), _f32(b))), 8, 8),
    "f32_sub": (lambda a, b: _bits(sf.f32_sub(_f32(a), _f32(b))), 8, 8),
    "f32_mul": (lambda a, b: _bits(sf.f32_mul(_f32(a), _f32(b))), 8, 8),
    "f32_lt": (lambda a, b: int(sf.f32_lt_quiet(_f32(a), _f32(b))), 8, 1),
    "f32_le": (lambda a, b: int(sf.f32_le_quiet(_f32(a), _f32(b))), 8, 1),
    "f32_eq": (lambda a, b: int(sf.f32_eq(_f32(a), _f32(b))), 8, 1),
    "bf16_mul_f32": (lambda a, b: _bits(sf.f32_mul(_bf16_as_f32(a), _bf16_as_f32(b))), 4, 8),
    "f32_to_bf16": (lambda a: _bits(sf.f32_to_bf16(_f32(a))), 8, 4),
}


def softfloat_results(op: str, *operands) -> tuple[np.ndarray, np.ndarray]:
    """Results and exception flags of ``op`` on each operand tuple, from SoftFloat."""
    fn = SOFTFLOAT_OPS[op][0]
    results, flags = [], []
    for values in zip(*operands, strict=True):
        sf.set_exception_flags(0)
        results.append(fn(*values))
        flags.append(int(sf.get_exception_flags()))
    return np.array(results, dtype=np.uint64), np.array(flags, dtype=np.uint64)


def make_testfloat_lines(op: str, *operands) -> list[str]:
    """``testfloat_gen``-style lines: operands, SoftFloat's result, its flags."""
    _, operand_digits, result_digits = SOFTFLOAT_OPS[op]
    results, flags = softfloat_results(op, *operands)
    return [" ".join(f"{int(x):0{operand_digits}X}" for x in values)
            + f" {int(r):0{result_digits}X} {int(f):02X}"
            for *values, r, f in zip(*operands, results, flags, strict=True)]
