"""The beat that moves between the PCU's pipeline sections: issue, SIMD stages, tail."""

from amaranth.hdl import unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import Out

from .config import COUNTERS

__all__ = ["BeatMeta", "BeatSignature"]

# What travels with each beat beside the lane data.
BeatMeta = data.StructLayout({
    "first": 1,        # first iteration of its innermost loop (accumulators restart)
    "last_inner": 1,   # last iteration of its innermost loop
    "last": 1,         # last iteration of the pass (done token)
    "scalar": 32,
    "ctr": data.ArrayLayout(32, COUNTERS),
})


class BeatSignature(wiring.Signature):
    """A beat of ``lanes`` x 32-bit ``data`` with its ``meta``, as the sender sees it.

    There is no ready: the whole pipeline moves on one ``advance`` (see :mod:`.pipe`).
    """

    def __init__(self, lanes: int):
        super().__init__({"valid": Out(1), "meta": Out(BeatMeta),
                          "data": Out(data.ArrayLayout(unsigned(32), lanes))})
