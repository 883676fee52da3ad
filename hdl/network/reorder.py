"""Sequence-number reorder buffer for many-to-one streams (as in a PMU's input).

Ports: ``i: In(stream.Signature(layout))`` and ``o: Out(stream.Signature(layout))``
carry flits (any layout with a ``seq`` field, e.g. :func:`hdl.network.flit.flit_layout`);
``clear: In(1)`` drops every buffered flit and restarts the expected ``seq`` at 0.

Flits of one stream are numbered 0, 1, 2, ... modulo 2**seq_bits and may arrive
in any order; ``o`` gives them in sequence order. A flit is taken only when its
``seq`` is less than ``window`` ahead of the next one due (modulo 2**seq_bits);
any other flit is backpressured (``i.ready`` low) until the stream catches up.
"""

from amaranth.hdl import Module, Shape, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["Reorder", "make_reorder"]


class Reorder(wiring.Component):
    """Reorders flits by ``seq`` within a ``window`` of slots (a power of two).

    The flit due next leaves from its slot combinationally (one flit per cycle);
    an arriving flit is stored in slot ``seq mod window`` at the clock edge. A
    flit exactly one window ahead is taken in the cycle the due flit leaves (it
    reuses that slot), so even ``window=1`` passes an in-order stream at full rate.
    """

    def __init__(self, layout, window: int):
        seq_bits = Shape.cast(layout.members["seq"]).width
        if not (isinstance(window, int) and window >= 1 and window & (window - 1) == 0):
            raise ValueError(f"window must be a power of two, not {window!r}")
        if window > 1 << seq_bits:
            raise ValueError(f"window {window} is larger than the {seq_bits}-bit seq space")
        self._layout = layout
        self._window = window
        self._seq_bits = seq_bits
        super().__init__({
            "i": In(stream.Signature(layout)),
            "o": Out(stream.Signature(layout)),
            "clear": In(1),
        })

    @property
    def window(self) -> int:
        return self._window

    def elaborate(self, platform):
        m = Module()
        window, seq_bits = self._window, self._seq_bits
        slot_bits = (window - 1).bit_length()
        width = Shape.cast(self._layout).width
        # window=1 would give zero-width addresses; a spare slot keeps the Verilog lint-clean.
        slots_built = max(window, 2)
        m.submodules.slots = slots = Memory(shape=width, depth=slots_built, init=[])
        write = slots.write_port()
        read = slots.read_port(domain="comb")
        full = Signal(slots_built)  # slot holds a flit
        expected = Signal(seq_bits)

        seq = self.i.payload.seq
        pop = Signal()
        push = Signal()
        m.d.comb += [
            pop.eq(self.o.valid & self.o.ready),
            push.eq(self.i.valid & self.i.ready),
        ]
        distance = Signal(seq_bits)
        in_slot = Signal(range(slots_built))
        out_slot = Signal(range(slots_built))
        m.d.comb += [
            distance.eq(seq - expected),
            in_slot.eq(seq[:slot_bits] if slot_bits else 0),
            out_slot.eq(expected[:slot_bits] if slot_bits else 0),
            # A flit may also take the slot the due flit is leaving from in this cycle.
            self.i.ready.eq(~self.clear & (
                ((distance < window) & ~full.bit_select(in_slot, 1))
                | (pop & (distance == window)))),
            write.addr.eq(in_slot),
            write.data.eq(self.i.payload),
            write.en.eq(self.i.valid & self.i.ready),
            read.addr.eq(out_slot),
            self.o.payload.eq(read.data),
            self.o.valid.eq(~self.clear & full.bit_select(out_slot, 1)),
        ]
        set_bits = Signal(slots_built)
        clear_bits = Signal(slots_built)
        m.d.comb += [
            set_bits.eq(push << in_slot),
            clear_bits.eq(pop << out_slot),
        ]
        with m.If(self.clear):
            m.d.sync += [full.eq(0), expected.eq(0)]
        with m.Else():
            m.d.sync += full.eq((full & ~clear_bits) | set_bits)
            with m.If(pop):
                m.d.sync += expected.eq(expected + 1)
        return m


def make_reorder(data_width: int, window: int, flow_bits: int = 6, seq_bits: int = 8) -> Reorder:
    """Factory for the build cache: a Reorder of :func:`flit_layout` flits."""
    from .flit import flit_layout

    return Reorder(flit_layout(data_width, flow_bits, seq_bits), window)
