"""Five-port mesh switch with static flow-ID routing, multicast and credit links.

Ports ``i0..i4`` (input links, receiver side) and ``o0..o4`` (output links,
sender side) are numbered as in :mod:`hdl.network.routes` (N, E, S, W, local).
Each input has a ``buffer_depth``-flit buffer; each output a credit counter.
The route table (``flows`` entries of a 5-bit output mask) is written through
``table_write`` / ``table_flow`` / ``table_mask`` and cleared by ``table_clear``.
"""

from amaranth.hdl import Cat, Module, Mux, Shape, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .arbiter import RoundRobinArbiter
from .credit_link import CreditLinkSignature, CreditReceiver
from .routes import PORTS

__all__ = ["Switch"]


class Switch(wiring.Component):
    """One mesh switch.

    The head flit of an input buffer is looked up in the route table; it is
    offered to every output in its mask that it has not yet gone to. Each
    output grants one input per cycle, round-robin, when it holds a credit.
    A flit leaves its input buffer in the cycle its last copy is sent, so a
    multicast flit reaches each output in its mask exactly once. A flit whose
    mask is zero, or names an edge port (no credits), waits at its input forever:
    a configuration error that :func:`hdl.network.routes.xy_routes` never makes.

    ``out_credits[p]`` is the initial credit of output ``p`` (the depth of the
    buffer it feeds, or 0 for a port on the mesh edge). ``overflow`` is high in
    any cycle an input link writes a full buffer.
    """

    def __init__(self, layout, flows: int, buffer_depth: int, out_credits):
        if len(out_credits) != PORTS:
            raise ValueError(f"out_credits needs {PORTS} entries, not {len(out_credits)}")
        if not all(0 <= credit <= buffer_depth for credit in out_credits):
            raise ValueError(f"out_credits {tuple(out_credits)} must be in 0..{buffer_depth}")
        self._layout = layout
        self._flows = flows
        self._buffer_depth = buffer_depth
        self._out_credits = tuple(out_credits)
        flow_bits = Shape.cast(layout.members["flow"]).width
        members = {}
        for p in range(PORTS):
            members[f"i{p}"] = In(CreditLinkSignature(layout))
        for p in range(PORTS):
            members[f"o{p}"] = Out(CreditLinkSignature(layout))
        members.update({
            "table_write": In(1),
            "table_clear": In(1),
            "table_flow": In(flow_bits),
            "table_mask": In(PORTS),
            "overflow": Out(1),
        })
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        # One flat register, read with a shift: far smaller Verilog than an Array of entries.
        table = Signal(PORTS * self._flows)
        with m.If(self.table_clear):
            m.d.sync += table.eq(0)
        with m.Elif(self.table_write):
            for f in range(self._flows):
                with m.If(self.table_flow == f):
                    m.d.sync += table.word_select(f, PORTS).eq(self.table_mask)

        buffers, masks, sent, pending, granted = [], [], [], [], []
        for p in range(PORTS):
            buffer = CreditReceiver(self._layout, self._buffer_depth)
            m.submodules[f"in_buffer{p}"] = buffer
            wiring.connect(m, wiring.flipped(getattr(self, f"i{p}")), buffer.i)
            buffers.append(buffer)
            masks.append(Signal(PORTS, name=f"mask{p}"))
            sent.append(Signal(PORTS, name=f"sent{p}"))  # copies of the head flit already gone
            pending.append(Signal(PORTS, name=f"pending{p}"))
            granted.append(Signal(PORTS, name=f"granted{p}"))  # copies going this cycle
            m.d.comb += [
                masks[p].eq(table.word_select(buffer.o.payload.flow, PORTS)),
                pending[p].eq(Mux(buffer.o.valid, masks[p] & ~sent[p], 0)),
            ]

        for q in range(PORTS):
            link = getattr(self, f"o{q}")
            credits = Signal(range(self._buffer_depth + 1), init=self._out_credits[q],
                             name=f"credits{q}")
            m.submodules[f"arbiter{q}"] = arbiter = RoundRobinArbiter(PORTS)
            for p in range(PORTS):
                m.d.comb += [
                    arbiter.request[p].eq(pending[p][q] & (credits != 0)),
                    granted[p][q].eq(arbiter.grant[p]),
                ]
            m.d.comb += [
                arbiter.advance.eq(1),
                link.valid.eq(arbiter.grant.any()),
            ]
            with m.Switch(arbiter.grant):
                for p in range(PORTS):
                    with m.Case(1 << p):
                        m.d.comb += link.flit.eq(buffers[p].o.payload)
            m.d.sync += credits.eq(credits + link.credit - link.valid)

        for p, buffer in enumerate(buffers):
            done = Signal(name=f"done{p}")  # the last copy of the head flit goes now
            m.d.comb += [
                done.eq(buffer.o.valid & ((sent[p] | granted[p]) == masks[p]) & (masks[p] != 0)),
                buffer.o.ready.eq(done),
            ]
            with m.If(done):
                m.d.sync += sent[p].eq(0)
            with m.Else():
                m.d.sync += sent[p].eq(sent[p] | granted[p])
        overflows = [buffer.overflow for buffer in buffers]
        m.d.comb += self.overflow.eq(Cat(*overflows).any())
        return m
