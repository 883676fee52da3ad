"""The request queue of a DRAM channel controller, kept in age order."""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["RequestQueue"]


class RequestQueue(wiring.Component):
    """Holds up to ``depth`` requests of ``layout`` (a controller request); entry 0 is the oldest.

    ``entries`` shows the first ``count`` entries' addresses (``we``, ``bank``,
    ``row``, ``col``) to the scheduler; ``served`` removes entry ``served_index``,
    whose ``tag``, ``wdata`` and ``wmask`` are on the outputs of the same name in
    that cycle. The small address entries shift towards entry 0; the payloads stay
    in one memory slot each (``slot``) until served. ``req`` is taken while a
    place is free (one may be taken in the cycle another is served).
    """

    def __init__(self, layout: data.StructLayout, depth: int):
        self._layout = layout
        self._depth = depth
        self._entry = data.StructLayout({
            "we": 1, "bank": layout.members["bank"], "row": layout.members["row"],
            "col": layout.members["col"], "slot": range(depth)})
        super().__init__({
            "req": In(stream.Signature(layout)),
            "entries": Out(self._entry).array(depth), "count": Out(range(depth + 1)),
            "served": In(1), "served_index": In(range(depth)),
            "tag": Out(layout.members["tag"]), "wdata": Out(layout.members["wdata"]),
            "wmask": Out(layout.members["wmask"]),
        })

    def elaborate(self, platform):
        m = Module()
        Q = self._depth
        entries, count, served = self.entries, self.count, self.served
        tag_bits = len(self.tag)
        atom_bits = len(self.wdata)
        payload_mem = Memory(shape=tag_bits + atom_bits + len(self.wmask), depth=Q, init=[])
        m.submodules.payload = payload_mem
        payload_wr = payload_mem.write_port()
        payload_rd = payload_mem.read_port(domain="comb")
        used = Signal(Q)

        served_slot = Signal(range(Q))
        for i in range(Q):
            with m.If(self.served_index == i):
                m.d.comb += served_slot.eq(entries[i].slot)
        m.d.comb += [payload_rd.addr.eq(served_slot),
                     self.tag.eq(payload_rd.data[:tag_bits]),
                     self.wdata.eq(payload_rd.data[tag_bits:tag_bits + atom_bits]),
                     self.wmask.eq(payload_rd.data[tag_bits + atom_bits:])]

        # remove the served entry, append the new request
        accept = self.req.valid & self.req.ready
        m.d.comb += self.req.ready.eq(count < Q)
        for i in range(Q):
            with m.If(served & (i >= self.served_index)):
                if i + 1 < Q:
                    m.d.sync += entries[i].eq(entries[i + 1])
        tail = count - served
        free_slot = Signal(range(Q))
        for i in reversed(range(Q)):
            with m.If(~used[i]):
                m.d.comb += free_slot.eq(i)
        request = self.req.payload
        for i in range(Q):
            with m.If(accept & (tail == i)):
                m.d.sync += [entries[i].we.eq(request.we), entries[i].bank.eq(request.bank),
                             entries[i].row.eq(request.row), entries[i].col.eq(request.col),
                             entries[i].slot.eq(free_slot)]
        m.d.comb += [payload_wr.addr.eq(free_slot), payload_wr.en.eq(accept),
                     payload_wr.data.eq(Cat(request.tag, request.wdata, request.wmask))]
        used_next = used & ~Mux(served, 1 << served_slot, 0)
        m.d.sync += [count.eq(count + accept - served),
                     used.eq(used_next | Mux(accept, 1 << free_slot, 0))]
        return m
