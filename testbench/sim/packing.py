"""Pack per-lane operand fields into stream beats and back, vectorised.

A beat is a row of little-endian bytes holding ``lanes`` elements, lane 0 in
the low bits, each element the fields of an ``amaranth.lib.data`` struct in
declaration order from bit 0 (the layout Amaranth flattens ports to).
"""

import numpy as np

__all__ = ["pack_beats", "unpack_beats", "beats_to_ints", "ints_to_beats"]


def _bits(values: np.ndarray, width: int) -> np.ndarray:
    if width > 64:
        raise ValueError("fields wider than 64 bits are not supported")
    raw = np.ascontiguousarray(values, dtype="<u8").view(np.uint8).reshape(-1, 8)
    return np.unpackbits(raw, axis=1, bitorder="little")[:, :width]


def pack_beats(fields, lanes: int) -> np.ndarray:
    """``fields``: list of (array, width); all arrays the same length, a multiple of ``lanes``."""
    count = len(fields[0][0])
    if count % lanes:
        raise ValueError(f"{count} elements do not fill whole beats of {lanes} lanes")
    bits = np.concatenate([_bits(np.asarray(a), w) for a, w in fields], axis=1)
    bits = bits.reshape(count // lanes, -1)
    return np.packbits(bits, axis=1, bitorder="little")


def unpack_beats(rows: np.ndarray, width: int, lanes: int) -> np.ndarray:
    """Split beats into ``lanes`` elements of ``width`` bits each (uint64 array)."""
    bits = np.unpackbits(rows, axis=1, bitorder="little")[:, :width * lanes]
    bits = bits.reshape(-1, width)
    padded = np.zeros((bits.shape[0], 64), dtype=np.uint8)
    padded[:, :width] = bits
    return np.packbits(padded, axis=1, bitorder="little").view("<u8").reshape(-1)


def beats_to_ints(rows: np.ndarray) -> list[int]:
    return [int.from_bytes(row.tobytes(), "little") for row in rows]


def ints_to_beats(values, nbytes: int) -> np.ndarray:
    data = b"".join(v.to_bytes(nbytes, "little") for v in values)
    return np.frombuffer(data, dtype=np.uint8).reshape(-1, nbytes)
