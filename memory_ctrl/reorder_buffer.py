"""The read reorder buffer of a memory tier: atoms in any order in, AXI R beats in order out."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hdl.bus import RESP_OKAY

__all__ = ["ReorderBuffer"]


class ReorderBuffer(wiring.Component):
    """``depth`` read beats of ``lanes`` atoms each, returned on ``r*`` in allocation order.

    ``alloc`` reserves the beat at ``slot`` (the tag its atoms carry to the
    channels) with its AXI ``id``, ``last`` and ``resp``; ``alloc_done`` marks
    lanes that need no atom (an error beat, or lanes a narrow read does not
    touch). ``fill[k]`` writes lane ``k``'s atom of beat ``tag``. The oldest beat
    leaves on ``rvalid``/``rready`` once all its lanes are in; an error beat's
    data reads as zero. ``full``: no slot is free.
    """

    def __init__(self, *, lanes: int, depth: int, atom_bits: int, id_width: int):
        self._lanes = lanes
        self._depth = depth
        self._id_width = id_width
        tag_bits = max(1, (depth - 1).bit_length())
        super().__init__({
            "alloc": In(1), "alloc_id": In(id_width), "alloc_last": In(1), "alloc_resp": In(2),
            "alloc_done": In(lanes), "slot": Out(tag_bits), "full": Out(1),
            "fill": In(wiring.Signature({"valid": Out(1), "tag": Out(tag_bits),
                                         "data": Out(atom_bits)})).array(lanes),
            "rvalid": Out(1), "rready": In(1), "rid": Out(id_width), "rlast": Out(1),
            "rresp": Out(2), "rdata": Out(atom_bits * lanes),
        })

    def elaborate(self, platform):
        m = Module()
        K, D, id_width = self._lanes, self._depth, self._id_width
        tag_bits = len(self.slot)
        head = Signal(tag_bits + 1)
        tail = Signal(tag_bits + 1)
        head_slot = head[:tag_bits]
        filled = [Signal(D, name=f"filled{k}") for k in range(K)]
        meta = Memory(shape=id_width + 3, depth=D, init=[])  # id, last, resp
        m.submodules.rob_meta = meta
        meta_w = meta.write_port()
        meta_r = meta.read_port(domain="comb")
        lane_data = []
        for k in range(K):
            mem = Memory(shape=len(self.fill[k].data), depth=D, init=[])
            m.submodules[f"rob{k}"] = mem
            wp, rp = mem.write_port(), mem.read_port(domain="comb")
            m.d.comb += [wp.addr.eq(self.fill[k].tag), wp.en.eq(self.fill[k].valid),
                         wp.data.eq(self.fill[k].data), rp.addr.eq(head_slot)]
            lane_data.append(rp.data)

        r_fire = self.rvalid & self.rready
        m.d.comb += [self.slot.eq(tail[:tag_bits]),
                     self.full.eq((tail - head)[:tag_bits + 1] == D),
                     meta_w.addr.eq(self.slot), meta_w.en.eq(self.alloc),
                     meta_w.data.eq(Cat(self.alloc_id, self.alloc_last, self.alloc_resp))]
        with m.If(self.alloc):
            m.d.sync += tail.eq(tail + 1)
        for k in range(K):
            set_bits = Mux(self.fill[k].valid, 1 << self.fill[k].tag, 0)
            done_bits = Mux(self.alloc & self.alloc_done[k], 1 << self.slot, 0)
            clear_bits = Mux(r_fire, 1 << head_slot, 0)
            m.d.sync += filled[k].eq((filled[k] & ~clear_bits) | set_bits | done_bits)

        head_ready = Const(1, 1)
        for k in range(K):
            head_ready = head_ready & filled[k].bit_select(head_slot, 1)
        resp = meta_r.data[id_width + 1:]
        m.d.comb += [meta_r.addr.eq(head_slot),
                     self.rvalid.eq((head != tail) & head_ready),
                     self.rid.eq(meta_r.data[:id_width]),
                     self.rlast.eq(meta_r.data[id_width]),
                     self.rresp.eq(resp),
                     self.rdata.eq(Mux(resp == RESP_OKAY, Cat(*lane_data), 0))]
        with m.If(r_fire):
            m.d.sync += head.eq(head + 1)
        return m
