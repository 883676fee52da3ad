"""Round-robin arbiter: one grant per cycle among ``n`` requesters."""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["RoundRobinArbiter"]


class RoundRobinArbiter(wiring.Component):
    """``grant`` is one-hot (or zero): the first requester at or after the pointer.

    When ``advance`` is high and a grant is made, the pointer moves to the
    requester after the granted one, so a requester that keeps asking waits for
    at most ``n - 1`` others.
    """

    def __init__(self, n: int):
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"arbiter needs at least one requester, not {n!r}")
        self._n = n
        super().__init__({
            "request": In(n),
            "advance": In(1),
            "grant": Out(n),
        })

    def elaborate(self, platform):
        m = Module()
        n = self._n
        pointer = Signal(range(n))
        with m.Switch(pointer):
            for start in range(n):
                with m.Case(start):
                    for k in range(n):
                        index = (start + k) % n
                        branch = m.If if k == 0 else m.Elif
                        with branch(self.request[index]):
                            m.d.comb += self.grant.eq(1 << index)
        with m.If(self.advance):
            for index in range(n):
                with m.If(self.grant[index]):
                    m.d.sync += pointer.eq((index + 1) % n)
        return m
