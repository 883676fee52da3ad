"""The link wire: one flit per cycle with its framing marks, no back-pressure."""

from amaranth.lib import wiring
from amaranth.lib.wiring import Out

__all__ = ["FlitWire"]


class FlitWire(wiring.Signature):
    """One direction of the wire between two link endpoints, as its sender sees it.

    ``data`` (``width`` bits) is a flit when ``valid`` is high; ``sop`` marks a
    frame's header flit and ``eop`` its CRC flit (see :mod:`.frame`). The receiver
    takes every valid flit: the wire has no ``ready``.
    """

    def __init__(self, width: int):
        self._width = width
        super().__init__({"valid": Out(1), "data": Out(width), "sop": Out(1), "eop": Out(1)})

    @property
    def width(self) -> int:
        return self._width

    def __eq__(self, other):
        return type(other) is FlitWire and other.width == self.width

    def __hash__(self):
        return hash((FlitWire, self._width))

    def __repr__(self):
        return f"FlitWire({self._width})"
