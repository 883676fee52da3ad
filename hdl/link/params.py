"""Link parameters (fixed when Verilog is emitted) and the checks a link description must pass."""

from dataclasses import dataclass

__all__ = ["LinkParams", "HEADER_BITS", "SEQ_BITS", "COUNT_BITS"]

HEADER_BITS = 30   # header fields use bits 0-29 of the first flit (testbench/golden/link.py)
SEQ_BITS = 8       # link sequence numbers, modulo 256
COUNT_BITS = 16    # credit and buffer pointers (free-running, modulo 2**16)


def _pow2(value: int) -> bool:
    return value > 0 and value & (value - 1) == 0


@dataclass(frozen=True)
class LinkParams:
    """Structure of one link: flit ``width`` (bits), receive buffer depth per VC in flits
    (``buffer_depths``, one entry per VC, powers of two), largest payload per packet,
    replay buffer depth (flits), retry window (packets), the channel model's largest
    latency (cycles) and the sockets (``sockets`` in the system; the link joins
    ``socket_a`` and ``socket_b``).
    """

    width: int = 32
    buffer_depths: tuple = (64, 64)
    max_payload: int = 16
    replay_depth: int = 256
    window: int = 32
    max_latency: int = 64
    sockets: int = 2
    socket_a: int = 0
    socket_b: int = 1

    def __post_init__(self):
        object.__setattr__(self, "buffer_depths", tuple(self.buffer_depths))
        if self.width < 32:
            raise ValueError(f"flit width must be at least 32 bits (header and CRC), "
                             f"not {self.width}")
        if not 1 <= len(self.buffer_depths) <= 4:
            raise ValueError(f"a link has 1 to 4 virtual channels, not {len(self.buffer_depths)}")
        for vc, depth in enumerate(self.buffer_depths):
            if depth <= 0:
                raise ValueError(f"VC {vc} has no receive buffer (depth {depth}): "
                                 f"it could never be granted a credit")
            if not _pow2(depth) or depth >= 1 << (COUNT_BITS - 1):
                raise ValueError(f"VC {vc} buffer depth {depth} must be a power of two "
                                 f"below {1 << (COUNT_BITS - 1)}")
        if not 1 <= self.max_payload <= 255:
            raise ValueError(f"max_payload must be 1..255 words, not {self.max_payload}")
        if not _pow2(self.replay_depth) or self.replay_depth < 2 * (self.max_payload + 1):
            raise ValueError(f"replay_depth {self.replay_depth} must be a power of two holding "
                             f"at least two largest packets ({2 * (self.max_payload + 1)} flits)")
        if not _pow2(self.window) or not 2 <= self.window <= 1 << (SEQ_BITS - 2):
            raise ValueError(f"window {self.window} must be a power of two in 2..64")
        if not 1 <= self.max_latency <= 4096:
            raise ValueError(f"max_latency must be 1..4096 cycles, not {self.max_latency}")
        if not 2 <= self.sockets <= 16:
            raise ValueError(f"sockets must be 2..16, not {self.sockets}")
        for name in ("socket_a", "socket_b"):
            if not 0 <= getattr(self, name) < self.sockets:
                raise ValueError(f"{name} {getattr(self, name)} does not exist "
                                 f"(sockets 0..{self.sockets - 1})")
        if self.socket_a == self.socket_b:
            raise ValueError("a link joins two different sockets")

    @property
    def vcs(self) -> int:
        return len(self.buffer_depths)

    @property
    def replay_addr_bits(self) -> int:
        """Address bits of the replay buffer (``replay_depth`` flits)."""
        return (self.replay_depth - 1).bit_length()

    @property
    def window_bits(self) -> int:
        """Bits indexing the retry window (``window`` packets), e.g. ``starts``."""
        return (self.window - 1).bit_length()

    @property
    def delay_slots(self) -> int:
        """Entries of the channel's delay line: a power of two above ``max_latency``."""
        slots = 2
        while slots <= self.max_latency:
            slots *= 2
        return slots
