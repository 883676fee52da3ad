"""One compiled kernel: its program image and its tensor streams over named buffers."""

from dataclasses import dataclass

from hdl.agcu.arguments import READ, StreamDescriptor, argument_words
from testbench.runtime.image import ProgramImage

__all__ = ["Stream", "Kernel"]


@dataclass(frozen=True)
class Stream:
    """A stream descriptor whose base is ``offset`` beats into ``buffer``.

    A stride may be a buffer name instead of a number: the distance in beats from
    ``buffer`` to that buffer (how a binary op interleaves its two operands).
    ``ordered``: a READ stream that starts after the previous READ stream's last beat
    (so two streams into one unit arrive one after the other).
    """

    direction: int
    flow: int
    buffer: str
    offset: int
    bounds: tuple
    strides: tuple
    ordered: bool = False

    @property
    def beats(self) -> int:
        return self.bounds[0] * self.bounds[1] * self.bounds[2]

    def descriptor(self, addresses: dict, beat_bytes: int) -> StreamDescriptor:
        base = addresses[self.buffer]
        strides = tuple((addresses[s] - base) // beat_bytes if isinstance(s, str) else s
                        for s in self.strides)
        return StreamDescriptor(self.direction, self.flow, base + self.offset * beat_bytes,
                                tuple(self.bounds), strides, ordered=self.ordered)


@dataclass(frozen=True)
class Kernel:
    """A program image, the streams its argument block describes, and its done-token count."""

    name: str
    image: ProgramImage
    streams: tuple
    done_tokens: int

    def arguments(self, addresses: dict, beat_bytes: int) -> list[int]:
        return argument_words([s.descriptor(addresses, beat_bytes) for s in self.streams],
                              done_tokens=self.done_tokens)

    def bytes_moved(self, beat_bytes: int) -> int:
        """Bytes the AGCU moves between device memory and the tile (reads plus writes)."""
        return sum(s.beats for s in self.streams) * beat_bytes

    def bytes_read(self, beat_bytes: int) -> int:
        return sum(s.beats for s in self.streams if s.direction == READ) * beat_bytes
