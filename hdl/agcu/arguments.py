"""The kernel argument block: stream descriptors in memory words (pure Python encoder).

Layout (32-bit words):

* word 0: number of stream descriptors N (at most the AGCU's ``max_streams``)
* word 1: expected done-token count of the kernel
* words 2 + 8*j .. 9 + 8*j: descriptor j:

  ==== ===========================================================================
  +0   control: bit 0 direction (0 READ memory->tile, 1 WRITE tile->memory),
       bit 1 ordered (READ only: no request before descriptor j-1, a READ, has
       received all its beats), bits 13:8 flow id, bits 23:16 first sequence number
  +1   base byte address (a multiple of the beat size)
  +2   bound0 (innermost), +3 bound1, +4 bound2: iteration counts (0: no beats)
  +5   stride0, +6 stride1, +7 stride2: signed 32-bit strides in beats
  ==== ===========================================================================

``ordered`` lets two READ streams feed one unit in sequence (the network keeps one
path's flits in order): e.g. two operands written one after the other into a PMU.

Beat k = (i2, i1, i0) (i0 fastest) lives at ``base + (i0*stride0 + i1*stride1 +
i2*stride2) * beat_bytes`` (modulo 2**32).
"""

from dataclasses import dataclass

__all__ = ["READ", "WRITE", "WORDS_PER_DESCRIPTOR", "HEADER_WORDS", "StreamDescriptor",
           "argument_words", "pattern_addresses"]

READ, WRITE = 0, 1
HEADER_WORDS = 2
WORDS_PER_DESCRIPTOR = 8


@dataclass(frozen=True)
class StreamDescriptor:
    """One tensor stream of a kernel: direction, flow id, first seq, 3-level affine pattern."""

    direction: int
    flow: int
    base: int
    bounds: tuple[int, int, int]
    strides: tuple[int, int, int]
    first_seq: int = 0
    ordered: bool = False

    def __post_init__(self):
        if self.direction not in (READ, WRITE):
            raise ValueError(f"direction must be READ (0) or WRITE (1), not {self.direction}")
        if self.ordered and self.direction != READ:
            raise ValueError("only a READ stream can be ordered after the previous one")
        if not 0 <= self.flow < 64:
            raise ValueError(f"flow id {self.flow} does not fit 6 bits")
        if not 0 <= self.first_seq < 256:
            raise ValueError(f"first_seq {self.first_seq} does not fit 8 bits")
        if len(self.bounds) != 3 or len(self.strides) != 3:
            raise ValueError("bounds and strides have 3 levels each")
        if any(not 0 <= b < 1 << 32 for b in self.bounds):
            raise ValueError(f"bounds {self.bounds} must be unsigned 32-bit")
        if any(not -(1 << 31) <= s < 1 << 31 for s in self.strides):
            raise ValueError(f"strides {self.strides} must be signed 32-bit")

    @property
    def beats(self) -> int:
        return self.bounds[0] * self.bounds[1] * self.bounds[2]

    def words(self) -> list[int]:
        control = self.direction | int(self.ordered) << 1 | self.flow << 8 | self.first_seq << 16
        return [control, self.base & 0xFFFFFFFF, *self.bounds,
                *(s & 0xFFFFFFFF for s in self.strides)]


def argument_words(descriptors: list[StreamDescriptor], done_tokens: int) -> list[int]:
    """The argument block for ``descriptors`` and ``done_tokens`` expected tokens."""
    words = [len(descriptors), done_tokens]
    for descriptor in descriptors:
        words += descriptor.words()
    return words


def pattern_addresses(descriptor: StreamDescriptor, beat_bytes: int) -> list[int]:
    """Byte address of every beat of ``descriptor``, in stream order."""
    (b0, b1, b2), (s0, s1, s2) = descriptor.bounds, descriptor.strides
    return [(descriptor.base + (i0 * s0 + i1 * s1 + i2 * s2) * beat_bytes) & 0xFFFFFFFF
            for i2 in range(b2) for i1 in range(b1) for i0 in range(b0)]
