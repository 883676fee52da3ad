"""A PMU's vector input: mesh flits straight through, or through a sequence reorder buffer.

Ports: ``i: In(stream.Signature(layout))`` (flits ejected at the PMU's node),
``o: Out(stream.Signature(data_width))`` (the flits' ``data``, to the PMU's
``vec_in``), ``reorder: In(1)`` (use the :class:`~hdl.network.reorder.Reorder`;
the PMU drives it from its configuration's ``reorder_input`` bit while it runs),
``clear: In(1)`` (drop buffered flits, expect ``seq`` 0 next: the PMU's
``configured`` pulse).

With ``reorder`` low the flits pass unchanged in arrival order, as before the
reorder buffer existed. With ``reorder`` high the PMU gets them in ``seq`` order
0, 1, 2, ... (mod 2**seq_bits). A flit ``window`` or more ahead of the next one
due is held at the node's ejection buffer; since every flow into the node shares
that buffer, a program must keep each source's flits less than ``window`` ahead
of the next seq due (e.g. all the flits of one configuration fit in the window,
or the sources are paced by credits), or the input deadlocks.
"""

from amaranth.hdl import Module, Shape
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.network.reorder import Reorder

__all__ = ["PMUInput"]


class PMUInput(wiring.Component):
    """Bypass or :class:`Reorder` (``window`` slots) between the mesh and a PMU's ``vec_in``."""

    def __init__(self, layout, window: int):
        self._layout, self._window = layout, window
        data_width = Shape.cast(layout.members["data"]).width
        super().__init__({
            "i": In(stream.Signature(layout)),
            "o": Out(stream.Signature(data_width)),
            "reorder": In(1),
            "clear": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.reorder = reorder = Reorder(self._layout, self._window)
        m.d.comb += [reorder.clear.eq(self.clear), reorder.i.payload.eq(self.i.payload)]
        with m.If(self.reorder):
            m.d.comb += [
                reorder.i.valid.eq(self.i.valid),
                self.i.ready.eq(reorder.i.ready),
                self.o.valid.eq(reorder.o.valid),
                self.o.payload.eq(reorder.o.payload.data),
                reorder.o.ready.eq(self.o.ready),
            ]
        with m.Else():
            m.d.comb += [
                self.o.valid.eq(self.i.valid),
                self.o.payload.eq(self.i.payload.data),
                self.i.ready.eq(self.o.ready),
            ]
        return m
