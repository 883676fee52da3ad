"""Host-side view of a tier's storage: byte image <-> per-bank backdoor words.

The backdoor port of a tier writes (or reads) one atom in every bank of every
channel per cycle, at device index ``row * atoms_per_row + column``; the word is
channel-major, then bank (bank group major), each atom little-endian. These
functions map a linear byte image onto that layout with the tier's own address
map, vectorised, so preloading costs one simulated cycle per index.
"""

import numpy as np

from memory_ctrl.tier_params import TierParams

__all__ = ["backdoor_words", "image_from_words", "word_count", "atom_locations"]


def word_count(config: TierParams) -> int:
    p = config.dram
    return p.rows * p.atoms_per_row


def _layout(config: TierParams, base: int, length: int):
    p = config.dram
    if base % p.atom_bytes or length % p.atom_bytes:
        raise ValueError(f"backdoor regions must be multiples of {p.atom_bytes} B")
    if base < 0 or base + length > config.capacity:
        raise ValueError(f"region [{base:#x}, {base + length:#x}) is outside the "
                         f"{config.capacity:#x}-byte tier")
    addresses = base + np.arange(length // p.atom_bytes, dtype=np.uint64) * np.uint64(
        p.atom_bytes)
    fields = config.address_map.decode(addresses)
    index = (fields["row"] * np.uint64(p.atoms_per_row) + fields["column"]).astype(np.int64)
    return index, fields["channel"].astype(np.int64), fields["flat_bank"].astype(np.int64)


def atom_locations(config: TierParams, base: int, length: int):
    """(device index, channel, flat bank) arrays of every atom of ``[base, base + length)``
    (atom-aligned, inside the tier; ValueError otherwise)."""
    return _layout(config, base, length)


def backdoor_words(config: TierParams, image: bytes | np.ndarray, base: int = 0,
                   fill: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(indices, words) to write so the tier holds ``image`` at ``base``.

    ``words`` has shape (n, channels * banks * atom_bytes) uint8. Atoms of touched
    indices outside the image come from ``fill`` (a full word array from
    :func:`image_from_words`'s inverse, i.e. the current contents) or are zero.
    """
    p = config.dram
    data = np.frombuffer(bytes(image), dtype=np.uint8) if not isinstance(
        image, np.ndarray) else image.astype(np.uint8, copy=False).ravel()
    index, channel, bank = _layout(config, base, data.size)
    shape = (word_count(config), config.channels, p.banks, p.atom_bytes)
    words = np.zeros(shape, np.uint8) if fill is None else fill.reshape(shape).copy()
    words[index, channel, bank] = data.reshape(-1, p.atom_bytes)
    used = np.unique(index)
    return used, words[used].reshape(used.size, -1)


def image_from_words(config: TierParams, words: np.ndarray, base: int, length: int) -> bytes:
    """The bytes [base, base + length) of a tier whose full backdoor dump is ``words``."""
    p = config.dram
    index, channel, bank = _layout(config, base, length)
    shaped = words.reshape(word_count(config), config.channels, p.banks, p.atom_bytes)
    return shaped[index, channel, bank].tobytes()
