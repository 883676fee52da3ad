"""Config distributor: splits the AGCU's Program Load word stream among the tile's targets.

A program's configuration is a sequence of records, each a header word then
``count`` payload words for one target (a unit's configuration port, an
output tag, a network route table, the control fabric)::

    header = 0xA5 << 24 | count << 10 | target        (count < 2**14, target < 2**10)

Payload words go to ``o_<target>`` in order, stalling while the target is not
ready (a unit takes a configuration only while idle). A header whose marker is
not 0xA5 or whose target does not exist sets the sticky ``error`` and is
dropped; the distributor then looks for the next header.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["ConfigDistributor", "MARKER", "TARGET_BITS", "COUNT_BITS", "record_header"]

MARKER = 0xA5
TARGET_BITS = 10
COUNT_BITS = 14


def record_header(target: int, count: int) -> int:
    """The header word of a record of ``count`` words for ``target``."""
    if not 0 <= target < 1 << TARGET_BITS:
        raise ValueError(f"config target {target} does not fit in {TARGET_BITS} bits")
    if not 0 <= count < 1 << COUNT_BITS:
        raise ValueError(f"config record of {count} words is longer than {(1 << COUNT_BITS) - 1}")
    return MARKER << 24 | count << TARGET_BITS | target


class ConfigDistributor(wiring.Component):
    """Routes configuration records from ``i`` to ``o_0 .. o_<targets-1>``."""

    def __init__(self, targets: int):
        if not 1 <= targets <= 1 << TARGET_BITS:
            raise ValueError(f"targets must be from 1 to {1 << TARGET_BITS}, not {targets}")
        self._targets = targets
        members = {"i": In(stream.Signature(32)), "error": Out(1), "busy": Out(1)}
        members.update({f"o_{k}": Out(stream.Signature(32)) for k in range(targets)})
        super().__init__(members)

    @property
    def targets(self) -> int:
        return self._targets

    def elaborate(self, platform):
        m = Module()
        target = Signal(TARGET_BITS)
        left = Signal(COUNT_BITS)
        outputs = [getattr(self, f"o_{k}") for k in range(self._targets)]
        header_target = self.i.payload[:TARGET_BITS]
        header_count = self.i.payload[TARGET_BITS:TARGET_BITS + COUNT_BITS]
        header_ok = (self.i.payload[24:] == MARKER) & (header_target < self._targets)
        m.d.comb += self.busy.eq(left != 0)

        with m.If(left == 0):
            m.d.comb += self.i.ready.eq(1)
            with m.If(self.i.valid):
                with m.If(header_ok):
                    m.d.sync += [target.eq(header_target), left.eq(header_count)]
                with m.Else():
                    m.d.sync += self.error.eq(1)
        with m.Else():
            for k, port in enumerate(outputs):
                with m.If(target == k):
                    m.d.comb += [port.payload.eq(self.i.payload), port.valid.eq(self.i.valid),
                                 self.i.ready.eq(port.ready)]
            with m.If(self.i.valid & self.i.ready):
                m.d.sync += left.eq(left - 1)
        return m
