"""Hardware parameters of one Pattern Memory Unit (fixed when Verilog is emitted)."""

from dataclasses import asdict, dataclass

__all__ = ["PMUParams"]


def _is_pow2(value: int) -> bool:
    return isinstance(value, int) and value > 0 and value & (value - 1) == 0


@dataclass(frozen=True)
class PMUParams:
    """``banks`` SRAM banks of ``depth`` words of ``width`` bits; ``lanes`` equals ``banks``.

    The vector port carries one element per bank per beat, so lanes == banks by
    construction (the diagonal-striping transpose needs a square lanes x banks tile).
    """

    banks: int = 16
    depth: int = 256
    width: int = 32

    def __post_init__(self):
        if not _is_pow2(self.banks) or self.banks < 2:
            raise ValueError(f"banks must be a power of two >= 2, not {self.banks!r}")
        if not _is_pow2(self.depth) or self.depth < self.banks:
            raise ValueError(f"depth must be a power of two >= banks ({self.banks}), "
                             f"not {self.depth!r}")
        if self.depth > 1 << 16:
            raise ValueError(f"depth must be at most 65536 words per bank, not {self.depth}")
        if not isinstance(self.width, int) or not 1 <= self.width <= 64:
            raise ValueError(f"width must be an int in [1, 64], not {self.width!r}")

    @property
    def lanes(self) -> int:
        return self.banks

    @property
    def bank_bits(self) -> int:
        return self.banks.bit_length() - 1

    @property
    def row_bits(self) -> int:
        return self.depth.bit_length() - 1

    def to_json(self) -> dict:
        return asdict(self)
