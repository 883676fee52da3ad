"""Binary floating-point formats the arithmetic units work on."""

from dataclasses import dataclass

__all__ = ["FloatFormat", "FP32", "BF16", "CANONICAL_NAN_FP32", "CANONICAL_NAN_BF16"]


@dataclass(frozen=True)
class FloatFormat:
    """An IEEE-style binary format: sign, ``exp_bits`` biased exponent, ``man_bits`` fraction."""

    name: str
    exp_bits: int
    man_bits: int

    @property
    def width(self) -> int:
        return 1 + self.exp_bits + self.man_bits

    @property
    def bias(self) -> int:
        return (1 << (self.exp_bits - 1)) - 1

    @property
    def exp_max(self) -> int:
        """All-ones exponent field (infinity / NaN)."""
        return (1 << self.exp_bits) - 1

    @property
    def precision(self) -> int:
        """Significand bits including the hidden bit."""
        return self.man_bits + 1


FP32 = FloatFormat("fp32", exp_bits=8, man_bits=23)
BF16 = FloatFormat("bf16", exp_bits=8, man_bits=7)

CANONICAL_NAN_FP32 = 0x7FC00000
CANONICAL_NAN_BF16 = 0x7FC0
