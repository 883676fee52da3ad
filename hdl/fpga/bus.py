"""The host bridge's internal bus: word writes and reads with one cycle of read latency."""

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["BusSignature", "ADDR_WIDTH", "DATA_WIDTH"]

ADDR_WIDTH = 16
DATA_WIDTH = 32


class BusSignature(wiring.Signature):
    """Initiator view: ``w_en`` writes ``w_data`` at ``addr``; ``r_en`` reads ``addr``,
    and ``r_data`` holds the word in the next cycle (a synchronous, block-RAM-friendly read).

    ``ready`` lets a slow target stretch that: the initiator holds ``addr``/``w_data``
    off the bus after its one-cycle request and waits, from the next cycle on, until
    ``ready`` is high; then the write is done and ``r_data`` holds the read word.
    A target that always answers in one cycle leaves ``ready`` undriven (init 1).
    """

    def __init__(self):
        super().__init__({
            "addr": Out(ADDR_WIDTH), "w_en": Out(1), "w_data": Out(DATA_WIDTH),
            "r_en": Out(1), "r_data": In(DATA_WIDTH), "ready": In(1, init=1),
        })
