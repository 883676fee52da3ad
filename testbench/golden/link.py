"""Reference model of the RDU-to-RDU link: CRC, frame codec, traffic sequences, bounds.

The RTL in ``hdl/link`` implements the same definitions; the tests check the
RTL's CRC against :func:`crc32_words` and the traffic checker's expectations
against :func:`traffic_packets`.

CRC: CRC-32 with the IEEE 802.3 polynomial 0x04C11DB7, not reflected, each
``width``-bit word fed most significant bit first, initial value 0xFFFFFFFF,
no final XOR, over the header word and the payload words of a frame.
"""

from dataclasses import dataclass

__all__ = [
    "CRC_POLY", "CRC_INIT", "KIND_DATA", "KIND_CTRL", "Header", "crc32_words", "encode_frame",
    "decode_frame", "xorshift32", "traffic_packets", "payload_efficiency", "goodput_bound",
]

CRC_POLY = 0x04C11DB7
CRC_INIT = 0xFFFFFFFF
KIND_DATA = 1
KIND_CTRL = 2

# Header word bit fields (name, low bit, width); the rest of the word is zero.
HEADER_FIELDS = (("kind", 0, 2), ("vc", 2, 2), ("seq", 4, 8), ("length", 12, 8),
                 ("src", 20, 4), ("dst", 24, 4), ("nak", 28, 1), ("eom", 29, 1))


@dataclass(frozen=True)
class Header:
    """One frame header. For control frames ``seq`` is the cumulative ACK (next sequence
    number expected) and ``length`` the number of credit words (one per VC)."""

    kind: int
    vc: int = 0
    seq: int = 0
    length: int = 0
    src: int = 0
    dst: int = 0
    nak: int = 0
    eom: int = 0

    def pack(self) -> int:
        word = 0
        for name, low, width in HEADER_FIELDS:
            value = getattr(self, name)
            if not 0 <= value < (1 << width):
                raise ValueError(f"header field {name}={value} does not fit {width} bits")
            word |= value << low
        return word

    @classmethod
    def unpack(cls, word: int) -> "Header":
        return cls(**{name: (word >> low) & ((1 << width) - 1)
                      for name, low, width in HEADER_FIELDS})


def crc32_words(words, width: int, crc: int = CRC_INIT) -> int:
    """CRC-32 (see module docstring) of ``width``-bit words, bit-serial reference."""
    for word in words:
        for bit in range(width - 1, -1, -1):
            feedback = ((crc >> 31) & 1) ^ ((word >> bit) & 1)
            crc = (crc << 1) & 0xFFFFFFFF
            if feedback:
                crc ^= CRC_POLY
    return crc


def encode_frame(header: Header, payload, width: int) -> list[int]:
    """The flits of a frame: header, payload words, CRC word."""
    words = [header.pack(), *payload]
    return [*words, crc32_words(words, width)]


def decode_frame(flits, width: int) -> tuple[Header, list[int]]:
    """Check a frame's CRC and length; raise ValueError if either is wrong."""
    if len(flits) < 2:
        raise ValueError("a frame has at least a header and a CRC flit")
    *words, crc = flits
    if crc32_words(words, width) != crc:
        raise ValueError("CRC mismatch")
    header = Header.unpack(words[0])
    if header.length != len(words) - 1:
        raise ValueError(f"header length {header.length} but {len(words) - 1} payload words")
    return header, words[1:]


def xorshift32(state: int) -> int:
    """Marsaglia's xorshift32 (13, 17, 5): the generator of every random choice in the RTL."""
    state ^= (state << 13) & 0xFFFFFFFF
    state ^= state >> 17
    state ^= (state << 5) & 0xFFFFFFFF
    return state


def traffic_packets(seed: int, packets: int, fixed_length: int, length_mask: int,
                    width: int = 32):
    """The packets the RTL traffic generator of one VC emits: a list of payload-word lists.

    Word = packet index in bits 0-15, the payload generator state above (repeated to
    fill ``width``). Length = ``fixed_length`` or 1 + (length generator & ``length_mask``).
    The payload generator starts at ``seed``, the length generator at ``seed ^ 0x5A5A5A5A``
    (each advanced before use).
    """
    payload_state, length_state = seed, seed ^ 0x5A5A5A5A
    result = []
    for index in range(packets):
        length_state = xorshift32(length_state)
        length = fixed_length or 1 + (length_state & length_mask)
        words = []
        for _ in range(length):
            payload_state = xorshift32(payload_state)
            filler = payload_state | (payload_state << 32)
            words.append((index & 0xFFFF) | ((filler << 16) & ((1 << width) - 1)))
        result.append(words)
    return result


def payload_efficiency(payload_words: int) -> float:
    """Share of link flits carrying payload for frames of ``payload_words`` (header + CRC)."""
    return payload_words / (payload_words + 2)


def goodput_bound(payload_words: int, credits: int, round_trip_cycles: float) -> float:
    """Payload words per cycle: min(bandwidth x efficiency, credits / round trip)."""
    return min(payload_efficiency(payload_words), credits / round_trip_cycles)
