"""Bit-level building blocks shared by the arithmetic units."""

from amaranth.hdl import Const, Signal, unsigned

__all__ = ["leading_zeros", "shift_right_sticky"]


def leading_zeros(m, value, name="lz"):
    """Return a signal counting the leading zeros of ``value`` (its width when zero)."""
    width = len(value)
    lz = Signal(range(width + 1), name=name)
    m.d.comb += lz.eq(width)
    for i in range(width):  # later assignments win: the highest set bit decides
        with m.If(value[i]):
            m.d.comb += lz.eq(width - 1 - i)
    return lz


def shift_right_sticky(value, amount):
    """``value >> amount`` with every shifted-out bit ORed into the result's LSB.

    ``amount`` must be at most ``len(value)``; callers clamp it.
    """
    width = len(value)
    mask = ((Const(1, unsigned(width + 1)) << amount) - 1)[:width]
    sticky = (value & mask).any()
    shifted = (value >> amount)[:width]
    return shifted | sticky
