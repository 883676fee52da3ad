"""Piecewise-quadratic function tables shared by the transcendental units and their golden models.

A :class:`PolyTable` splits ``[lo, hi)`` into ``2**segment_bits`` equal segments
per bank and holds, for each segment, the integer coefficients of a quadratic
in the segment-local variable ``v`` in [0, 1):

    f(lo + (i + v) * h) ~= (c0 + c1 * v + c2 * v**2) / 2**COEF_FRAC

The quadratic interpolates ``f`` at the three Chebyshev nodes of the segment;
each coefficient is then rounded to the nearest integer. Hardware and golden
model evaluate it identically (see :meth:`PolyTable.evaluate` for the integer
recipe) with ``v = u / 2**u_bits`` for a ``u_bits``-wide unsigned ``u``.

The tables are computed once, here, by plain float64 arithmetic; RTL and golden
model both read the integers of the same :class:`PolyTable` object.
"""

import math
from functools import cached_property

from amaranth.hdl import Signal, unsigned
from amaranth.lib.memory import Memory

__all__ = ["COEF_FRAC", "PolyTable", "horner_b", "horner_y", "poly_stages",
           "RECIP_TABLE", "RSQRT_TABLE", "EXP2_TABLE"]

# Fraction bits of every coefficient and of every polynomial result.
COEF_FRAC = 30

_NODES = [0.5 - 0.5 * math.cos((2 * j + 1) * math.pi / 6) for j in range(3)]


def _quadratic_through(points):
    """Monomial coefficients (a0, a1, a2) of the quadratic through three (v, y) points."""
    (x0, y0), (x1, y1), (x2, y2) = points
    d01 = (y1 - y0) / (x1 - x0)
    d12 = (y2 - y1) / (x2 - x1)
    a2 = (d12 - d01) / (x2 - x0)
    a1 = d01 - a2 * (x0 + x1)
    a0 = y0 - a1 * x0 - a2 * x0 * x0
    return a0, a1, a2


class PolyTable:
    """Quadratic coefficients of ``functions`` (one per bank) on ``2**segment_bits`` segments
    each.

    The table index is ``bank << segment_bits | segment``.
    """

    def __init__(self, name, functions, lo, hi, segment_bits):
        if segment_bits < 1:
            raise ValueError(f"segment_bits must be at least 1, not {segment_bits}")
        if not hi > lo:
            raise ValueError(f"empty interval [{lo}, {hi})")
        if len(functions) & (len(functions) - 1):
            raise ValueError("the number of banks must be a power of two")
        self._name = name
        self._functions = tuple(functions)
        self._lo, self._hi = lo, hi
        self._segment_bits = segment_bits

    @property
    def name(self) -> str:
        return self._name

    @property
    def segment_bits(self) -> int:
        """Address bits selecting the segment within a bank."""
        return self._segment_bits

    @property
    def index_bits(self) -> int:
        """Table address bits (bank bits included)."""
        return self._segment_bits + (len(self._functions) - 1).bit_length()

    @property
    def depth(self) -> int:
        return 1 << self.index_bits

    @cached_property
    def coefficients(self) -> tuple[tuple[int, int, int], ...]:
        """(c0, c1, c2) integers, scaled by 2**COEF_FRAC, one triple per table entry."""
        segments = 1 << self._segment_bits
        h = (self._hi - self._lo) / segments
        scale = 1 << COEF_FRAC
        out = []
        for f in self._functions:
            for i in range(segments):
                a = self._lo + i * h
                coeffs = _quadratic_through([(v, f(a + v * h)) for v in _NODES])
                out.append(tuple(round(c * scale) for c in coeffs))
        return tuple(out)

    @cached_property
    def widths(self) -> tuple[int, int, int]:
        """Bits of c0 (unsigned), c1 and c2 (signed)."""
        c0, c1, c2 = zip(*self.coefficients, strict=True)
        if min(c0) < 0:
            raise ValueError(f"{self._name}: c0 must be non-negative")
        return (max(c0).bit_length(),
                max(max(abs(c) for c in c1).bit_length(), 1) + 1,
                max(max(abs(c) for c in c2).bit_length(), 1) + 1)

    @cached_property
    def packed(self) -> tuple[int, ...]:
        """Each entry as one word: c0 in the low bits, then c1, then c2 (two's complement)."""
        w0, w1, w2 = self.widths
        return tuple(c0 | ((c1 & ((1 << w1) - 1)) << w0) | ((c2 & ((1 << w2) - 1)) << (w0 + w1))
                     for c0, c1, c2 in self.coefficients)

    def read_port(self, m, name):
        """Add the table as a ROM to ``m``; return (address signal, (c0, c1, c2) values)."""
        w0, w1, w2 = self.widths
        rom = Memory(shape=unsigned(w0 + w1 + w2), depth=self.depth, init=self.packed)
        m.submodules[f"{name}_rom"] = rom
        port = rom.read_port(domain="comb")
        addr = Signal(self.index_bits, name=f"{name}_addr")
        m.d.comb += port.addr.eq(addr)
        data = port.data
        return addr, (data[0:w0], data[w0:w0 + w1].as_signed(), data[w0 + w1:].as_signed())


def horner_b(c1, c2, u, u_bits):
    """First Horner step on RTL values: ``c1 + floor(c2 * u / 2**u_bits)`` (signed)."""
    return c1 + ((c2 * u) >> u_bits)


def horner_y(c0, b, u, u_bits):
    """Second Horner step on RTL values: ``c0 + floor(b * u / 2**u_bits)`` (non-negative)."""
    return (c0 + ((b * u) >> u_bits)).as_unsigned()


# 1/m on [1, 2): 256 segments.
RECIP_TABLE = PolyTable("recip", [lambda m: 1.0 / m], 1.0, 2.0, 8)
# 1/sqrt(m) (even exponent) and 1/sqrt(2m) (odd exponent) on [1, 2): 128 segments each.
RSQRT_TABLE = PolyTable("rsqrt", [lambda m: m ** -0.5, lambda m: (2.0 * m) ** -0.5], 1.0, 2.0, 7)
# 2**v on [0, 1): 128 segments.
EXP2_TABLE = PolyTable("exp2", [lambda v: 2.0 ** v], 0.0, 1.0, 7)


def poly_stages(m, p, table, index, u, u_bits, name, **carry):
    """Three pipeline stages evaluating ``table`` at (``index``, ``u``): ROM read, two Horner steps.

    Returns the last stage: ``y`` (unsigned, COEF_FRAC fraction bits, two bits
    above c0's width) plus the ``carry`` values.
    """
    addr, (c0, c1, c2) = table.read_port(m, name)
    m.d.comb += addr.eq(index)
    s1 = p.stage(c0=c0, c1=c1, c2=c2, u=u, **carry)
    s2 = p.stage(b=horner_b(s1.c1, s1.c2, s1.u, u_bits), c0=s1.c0, u=s1.u,
                 **{k: getattr(s1, k) for k in carry})
    return p.stage(y=horner_y(s2.c0, s2.b, s2.u, u_bits)[0:table.widths[0] + 2],
                   **{k: getattr(s2, k) for k in carry})
