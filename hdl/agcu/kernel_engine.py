"""Runs one kernel's stream descriptors: memory to ``vec_out``, ``vec_in`` to memory."""

from amaranth.hdl import Array, Const, Module, Mux, Shape, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.bus import BURST_INCR, RESP_OKAY, AXI4Signature
from hdl.memory.round_robin import round_robin
from hdl.network.flit import flit_layout

from .address_gen import AffineAddressGenerator
from .arguments import WRITE

__all__ = ["KernelEngine", "descriptor_layout"]

MAX_BURST = 16


def descriptor_layout() -> data.StructLayout:
    """A loaded stream descriptor (see :mod:`hdl.agcu.arguments` for its word format)."""
    return data.StructLayout({
        "direction": 1, "ordered": 1, "flow": 6, "first_seq": 8, "base": 32,
        "bounds": data.ArrayLayout(32, 3), "strides": data.ArrayLayout(32, 3),
    })


class KernelEngine(wiring.Component):
    """On ``start``, run descriptors ``0 .. count-1`` concurrently until the kernel is complete.

    READ stream j: round-robin AR requests with ARID j (INCR bursts of up to 16 beats
    when stride0 == 1, within one level-0 row and one 4 KiB page; else single beats),
    at most one AR every other cycle and ``outstanding`` bursts in flight over all
    streams; an ``ordered`` stream j waits until READ stream j-1 has received all its
    beats. Each R beat leaves on ``vec_out`` as a flit {data, flow, seq = first_seq +
    beat index, last on the final beat}; R beats of different IDs may interleave, beats
    of one ID stay in order.
    A burst is requested only when the read buffer has room for all of its beats, so
    the R channel never waits on the network: a memory that serves one burst at a
    time is never held by a read the tile cannot take while the tile's results wait
    to be written (that wait deadlocked the RDU).
    WRITE stream j: each ``vec_in`` flit whose flow is j's goes to j's next pattern
    address as a one-beat write (AWID j). A flit of no WRITE stream, or beyond a
    stream's last beat, is dropped with an ``error`` pulse; so is any error response.
    ``vec_in`` is not ready while no kernel runs.

    Complete: every READ beat sent, every WRITE beat written and answered, and
    ``done_in`` high for ``done_tokens`` cycles since ``start``. Then ``running``
    falls, ``complete`` pulses and ``cycles`` holds the kernel's cycle count
    (``start`` to complete).
    """

    def __init__(self, data_width: int, *, addr_width: int = 32, id_width: int = 4,
                 max_streams: int = 4, outstanding: int = 4):
        if max_streams > 1 << id_width:
            raise ValueError(f"{max_streams} streams need more than {id_width} ID bits")
        self.max_streams, self.outstanding = max_streams, outstanding
        self.axi_signature = AXI4Signature(addr_width=addr_width, data_width=data_width,
                                           id_width=id_width)
        flit = flit_layout(data_width)
        super().__init__({
            "start": In(1),
            "count": In(range(max_streams + 1)),
            "done_tokens": In(32),
            "descriptors": In(data.ArrayLayout(descriptor_layout(), max_streams)),
            "done_in": In(1),
            "mem": Out(self.axi_signature),
            "vec_out": Out(stream.Signature(flit)),
            "vec_in": In(stream.Signature(flit)),
            "running": Out(1),
            "complete": Out(1),
            "error": Out(1),
            "cycles": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        mem = self.mem
        n = self.max_streams
        beat_bytes = self.axi_signature.data_width // 8
        shift = (beat_bytes - 1).bit_length()
        desc = [self.descriptors[j] for j in range(n)]
        active = [Signal(name=f"active{j}") for j in range(n)]
        is_write = [Signal(name=f"is_write{j}") for j in range(n)]
        received = [Signal(32, name=f"received{j}") for j in range(n)]
        total = [Signal(32, name=f"total{j}") for j in range(n)]
        gens = []
        for j in range(n):
            gen = AffineAddressGenerator(beat_bytes, len(mem.araddr))
            m.submodules[f"pattern{j}"] = gen
            gens.append(gen)
            d = desc[j]
            m.d.comb += [
                active[j].eq(j < self.count), is_write[j].eq(d.direction == WRITE),
                gen.base.eq(d.base), gen.load.eq(self.start),
            ]
            # Registered, one multiplier per cycle (two in a row limited FPGA fmax): a
            # descriptor's bounds are loaded three words (strides) before its last word,
            # hence cycles before ``start``.
            bounds01 = Signal(32, name=f"bounds01_{j}")
            m.d.sync += [bounds01.eq(d.bounds[0] * d.bounds[1]),
                         total[j].eq(bounds01 * d.bounds[2])]
            for level in range(3):
                m.d.comb += [gen.bounds[level].eq(d.bounds[level]),
                             gen.strides[level].eq(d.strides[level])]

        tokens = Signal(32)
        cycle_count = Signal(32)
        reads_in_flight = Signal(range(self.outstanding + 1))
        writes_unanswered = Signal(32)
        error_now = Signal()
        m.d.comb += self.error.eq(error_now)

        with m.If(self.start):
            m.d.sync += [self.running.eq(1), tokens.eq(0), cycle_count.eq(0)]
            m.d.sync += [received[j].eq(0) for j in range(n)]
        with m.Elif(self.running):
            m.d.sync += [cycle_count.eq(cycle_count + 1), tokens.eq(tokens + self.done_in)]

        # ---- AR: round-robin over READ streams with beats left to request, in two steps:
        # pick a stream and its burst (registered), then issue the AR and advance that
        # stream's generator. Arbitration and burst sizing thus stay off the generators'
        # update path (it limited FPGA fmax); an AR leaves at most every other cycle.
        buffer_depth = self.outstanding * MAX_BURST
        committed = Signal(range(buffer_depth + 1))  # beats requested, not yet on vec_out
        picked = Signal()
        pick = Signal(range(n))
        pick_burst = Signal(range(MAX_BURST + 1))
        # Free now means free when the pick issues next cycle (only the issue sets arvalid).
        ar_free = ~mem.arvalid | mem.arready
        can_issue = (self.running & ~picked & ar_free & (reads_in_flight < self.outstanding)
                     & (committed + MAX_BURST <= buffer_depth))
        # An ordered stream waits for the previous READ stream's last beat.
        waits = [Const(0, 1)] + [
            desc[j].ordered & ~is_write[j - 1] & (received[j - 1] != total[j - 1])
            for j in range(1, n)]
        eligible = [can_issue & active[j] & ~is_write[j] & ~gens[j].done & ~waits[j]
                    for j in range(n)]
        # Each stream's next burst, computed beside the arbiter rather than behind it.
        bursts = []
        for j in range(n):
            burst = Signal(range(MAX_BURST + 1), name=f"burst{j}")
            row_left = gens[j].row_left
            to_4k = (0x1000 - (gens[j].addr & 0xFFF)) >> shift
            m.d.comb += burst.eq(1)
            with m.If(desc[j].strides[0] == 1):
                m.d.comb += burst.eq(MAX_BURST)
                with m.If(row_left < MAX_BURST):
                    m.d.comb += burst.eq(row_left)
                with m.If((to_4k < MAX_BURST) & (to_4k < row_left)):
                    m.d.comb += burst.eq(to_4k)
            bursts.append(burst)
        last_grant = Signal(range(n))
        any_eligible, grant = round_robin(m, eligible, last_grant, name="agcu_ar")
        with m.If(any_eligible):
            m.d.sync += [picked.eq(1), pick.eq(grant), pick_burst.eq(Array(bursts)[grant]),
                         last_grant.eq(grant)]
        issue = picked
        m.d.comb += [mem.arsize.eq(shift), mem.arburst.eq(BURST_INCR)]
        with m.If(mem.arvalid & mem.arready):
            m.d.sync += mem.arvalid.eq(0)
        with m.If(issue):
            m.d.sync += [picked.eq(0), mem.arvalid.eq(1),
                         mem.araddr.eq(Array(g.addr for g in gens)[pick]),
                         mem.arlen.eq(pick_burst - 1), mem.arid.eq(pick)]
            for j in range(n):
                with m.If(pick == j):
                    m.d.comb += [gens[j].advance.eq(1), gens[j].beats.eq(pick_burst)]

        # ---- R -> read buffer -> vec_out flits
        flit_shape = self.vec_out.payload.shape()
        m.submodules.read_buffer = read_buffer = fifo.SyncFIFOBuffered(
            width=Shape.cast(flit_shape).width, depth=buffer_depth)
        rid = mem.rid
        r_done = mem.rvalid & mem.rready & mem.rlast
        r_flit = Signal(flit_shape)
        m.d.comb += [
            r_flit.data.eq(mem.rdata),
            r_flit.flow.eq(Array(d.flow for d in desc)[rid]),
            r_flit.seq.eq(Array(d.first_seq for d in desc)[rid] + Array(received)[rid]),
            r_flit.last.eq(Array(received)[rid] + 1 == Array(total)[rid]),
            mem.rready.eq(self.running & read_buffer.w_rdy),
            read_buffer.w_data.eq(r_flit), read_buffer.w_en.eq(mem.rvalid & mem.rready),
            self.vec_out.payload.eq(read_buffer.r_data), self.vec_out.valid.eq(read_buffer.r_rdy),
            read_buffer.r_en.eq(self.vec_out.ready),
        ]
        sent = self.vec_out.valid & self.vec_out.ready
        m.d.sync += committed.eq(committed + Mux(issue, pick_burst, 0) - sent)
        with m.If(mem.rvalid & mem.rready):
            for j in range(n):
                with m.If(rid == j):
                    m.d.sync += received[j].eq(received[j] + 1)
            with m.If(mem.rresp != RESP_OKAY):
                m.d.comb += error_now.eq(1)
        m.d.sync += reads_in_flight.eq(reads_in_flight + issue - r_done)

        # ---- vec_in flits -> one-beat writes, in two steps: a flit and its owner are
        # registered, then written (this keeps the flow match off the generators' update
        # path, which limited FPGA fmax); a flit per cycle still moves.
        aw_free = ~mem.awvalid | mem.awready
        w_free = ~mem.wvalid | mem.wready
        flit = self.vec_in.payload
        held = Signal()
        held_data = Signal.like(flit.data)
        held_owner = Signal(range(n))
        held_owned = Signal()
        write_now = held & aw_free & w_free
        m.d.comb += [
            self.vec_in.ready.eq(self.running & (~held | write_now)),
            mem.awsize.eq(shift), mem.awburst.eq(BURST_INCR), mem.awlen.eq(0),
            mem.wstrb.eq((1 << beat_bytes) - 1), mem.wlast.eq(1), mem.bready.eq(1),
        ]
        with m.If(mem.awvalid & mem.awready):
            m.d.sync += mem.awvalid.eq(0)
        with m.If(mem.wvalid & mem.wready):
            m.d.sync += mem.wvalid.eq(0)
        owner = Signal(range(n))
        owned = Signal()
        for j in reversed(range(n)):
            with m.If(active[j] & is_write[j] & (desc[j].flow == flit.flow)):
                m.d.comb += [owned.eq(1), owner.eq(j)]
        with m.If(self.vec_in.valid & self.vec_in.ready):
            m.d.sync += [held.eq(1), held_data.eq(flit.data), held_owner.eq(owner),
                         held_owned.eq(owned)]
        with m.Elif(write_now):
            m.d.sync += held.eq(0)
        accepted = Signal()
        with m.If(write_now):
            with m.If(held_owned & ~Array(g.done for g in gens)[held_owner]):
                m.d.comb += accepted.eq(1)
                m.d.sync += [mem.awvalid.eq(1),
                             mem.awaddr.eq(Array(g.addr for g in gens)[held_owner]),
                             mem.awid.eq(held_owner), mem.wvalid.eq(1),
                             mem.wdata.eq(held_data)]
                for j in range(n):
                    with m.If(held_owner == j):
                        m.d.comb += [gens[j].advance.eq(1), gens[j].beats.eq(1)]
            with m.Else():
                m.d.comb += error_now.eq(1)
        b_done = mem.bvalid & mem.bready
        with m.If(b_done & (mem.bresp != RESP_OKAY)):
            m.d.comb += error_now.eq(1)
        m.d.sync += writes_unanswered.eq(writes_unanswered + accepted - b_done)

        # ---- completion
        streams_done = Signal()
        m.d.comb += streams_done.eq(1)
        for j in range(n):
            finished = gens[j].done & (is_write[j] | (received[j] == total[j]))
            with m.If(active[j] & ~finished):
                m.d.comb += streams_done.eq(0)
        quiet = ((reads_in_flight == 0) & (committed == 0) & ~picked & ~mem.arvalid
                 & ~held & ~mem.awvalid & ~mem.wvalid & (writes_unanswered == 0))
        with m.If(self.running & ~self.start & streams_done & quiet
                  & (tokens >= self.done_tokens)):
            m.d.comb += self.complete.eq(1)
            m.d.sync += [self.running.eq(0), self.cycles.eq(cycle_count + 1)]
        return m
