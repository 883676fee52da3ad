"""Combinational CRC-32 update over one ``width``-bit word (definition in testbench/golden/link.py).

The update is linear over GF(2), so each next-state bit is the XOR of a fixed set
of state and data bits; the sets are found by running the bit-serial definition
on unit vectors at elaboration time.
"""

from amaranth.hdl import Cat, Const, Value

__all__ = ["CRC_INIT", "CRC_POLY", "crc32_next"]

CRC_POLY = 0x04C11DB7
CRC_INIT = 0xFFFFFFFF


def _serial(crc: int, word: int, width: int) -> int:
    for bit in range(width - 1, -1, -1):
        feedback = ((crc >> 31) & 1) ^ ((word >> bit) & 1)
        crc = (crc << 1) & 0xFFFFFFFF
        if feedback:
            crc ^= CRC_POLY
    return crc


_TAPS: dict[int, list[tuple[list[int], list[int]]]] = {}


def _taps(width: int):
    if width not in _TAPS:
        from_crc = [_serial(1 << i, 0, width) for i in range(32)]
        from_data = [_serial(0, 1 << i, width) for i in range(width)]
        _TAPS[width] = [([i for i in range(32) if from_crc[i] >> out & 1],
                         [i for i in range(width) if from_data[i] >> out & 1])
                        for out in range(32)]
    return _TAPS[width]


def crc32_next(crc: Value, word: Value, width: int) -> Value:
    """The CRC-32 register after feeding ``word`` (``width`` bits) into ``crc``."""
    bits = []
    for crc_taps, data_taps in _taps(width):
        terms = [crc[i] for i in crc_taps] + [word[i] for i in data_taps]
        bits.append(Cat(*terms).xor() if terms else Const(0, 1))
    return Cat(*bits)
