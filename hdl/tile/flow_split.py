"""Flow split at the AGCU's node: each outgoing flit enters the vector or the scalar fabric.

The AGCU streams every READ stream as vector flits. A flow that a program
routes on the scalar fabric (a per-row scalar, say, that a PCU broadcasts across
its lanes) leaves through the scalar mesh instead, carrying lane 0 of the beat.
Which flows those are is a bit mask set by a Program Load record of two words
(flows 0-31, then 32-63); every program writes it, so no mask outlives its
program.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.network.flit import flit_layout

__all__ = ["FlowSplit", "MASK_WORDS", "scalar_flow_words"]

MASK_WORDS = 2


def scalar_flow_words(flows) -> list[int]:
    """The configuration record of a :class:`FlowSplit` sending ``flows`` to the scalar mesh."""
    mask = 0
    for flow in flows:
        if not 0 <= flow < 32 * MASK_WORDS:
            raise ValueError(f"flow {flow} does not fit in 6 bits")
        mask |= 1 << flow
    return [(mask >> (32 * k)) & 0xFFFFFFFF for k in range(MASK_WORDS)]


class FlowSplit(wiring.Component):
    """Flits from ``i`` leave on ``vec``, or on ``sca`` (data = lane 0) if their flow's mask
    bit is set; configuration words on ``cfg`` (always ready) shift into the mask."""

    def __init__(self, data_width: int):
        super().__init__({
            "cfg": In(stream.Signature(32)),
            "i": In(stream.Signature(flit_layout(data_width))),
            "vec": Out(stream.Signature(flit_layout(data_width))),
            "sca": Out(stream.Signature(flit_layout(32))),
        })

    def elaborate(self, platform):
        m = Module()
        mask = Signal(32 * MASK_WORDS)
        m.d.comb += self.cfg.ready.eq(1)
        with m.If(self.cfg.valid):
            m.d.sync += mask.eq(Cat(mask[32:], self.cfg.payload))

        flit = self.i.payload
        scalar = Signal()
        m.d.comb += scalar.eq(mask.bit_select(flit.flow, 1))
        for name in ("flow", "seq", "last"):
            m.d.comb += [getattr(self.vec.payload, name).eq(getattr(flit, name)),
                         getattr(self.sca.payload, name).eq(getattr(flit, name))]
        m.d.comb += [
            self.vec.payload.data.eq(flit.data),
            self.sca.payload.data.eq(flit.data[:32]),
            self.vec.valid.eq(self.i.valid & ~scalar),
            self.sca.valid.eq(self.i.valid & scalar),
            self.i.ready.eq(scalar & self.sca.ready | ~scalar & self.vec.ready),
        ]
        return m
