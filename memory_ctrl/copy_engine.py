"""Descriptor-driven copy engine: an AXI4 master that reads one tier and writes another."""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.bus import BURST_INCR, RESP_OKAY, AXI4Signature

__all__ = ["CopyEngine", "descriptor_layout"]


def descriptor_layout(addr_width: int) -> data.StructLayout:
    return data.StructLayout({"src": addr_width, "dst": addr_width, "length": addr_width})


class CopyEngine(wiring.Component):
    """Copies ``length`` bytes from ``src`` (on the ``rd`` port) to ``dst`` (on the ``wr`` port).

    The copy is cut into ``burst_bytes`` bursts (both addresses and the length must
    be multiples of it, else the descriptor is rejected and counted in ``errors``).
    Reads run ahead of writes by up to ``buffer_bytes``: a new AR issues whenever the
    buffer has room for its whole burst, so several bursts are in flight and, with
    the tiers' channel-lowest address maps, every burst touches every channel.
    Beats are regrouped between the two port widths. ``busy`` is high from the
    descriptor to the last write response; ``last_cycles`` is the length of the last
    copy in cycles; error responses from either tier count in ``errors``.
    """

    def __init__(self, *, addr_width: int, rd_bytes: int, wr_bytes: int, id_width: int,
                 burst_bytes: int = 4096, buffer_bytes: int = 16384):
        for name, value in (("rd_bytes", rd_bytes), ("wr_bytes", wr_bytes),
                            ("burst_bytes", burst_bytes), ("buffer_bytes", buffer_bytes)):
            if value < 1 or value & (value - 1):
                raise ValueError(f"{name} must be a power of two, not {value}")
        if burst_bytes > 4096 or burst_bytes // min(rd_bytes, wr_bytes) > 256:
            raise ValueError(f"burst_bytes {burst_bytes} exceeds an AXI4 burst (256 beats, 4 KiB)")
        if buffer_bytes < burst_bytes:
            raise ValueError("buffer_bytes must hold at least one burst")
        self._addr_width = addr_width
        self._rd_bytes, self._wr_bytes = rd_bytes, wr_bytes
        self._burst = burst_bytes
        self._buffer = buffer_bytes
        super().__init__({
            "desc": In(stream.Signature(descriptor_layout(addr_width))),
            "rd": Out(AXI4Signature(addr_width=addr_width, data_width=rd_bytes * 8,
                                    id_width=id_width)),
            "wr": Out(AXI4Signature(addr_width=addr_width, data_width=wr_bytes * 8,
                                    id_width=id_width)),
            "busy": Out(1),
            "copies": Out(32),
            "errors": Out(32),
            "last_cycles": Out(40),
        })

    def elaborate(self, platform):
        m = Module()
        A = self._addr_width
        B = self._burst
        rd, wr = self.rd, self.wr
        rb, wb = self._rd_bytes, self._wr_bytes
        word = max(rb, wb)
        rd_beats, wr_beats = B // rb, B // wb

        rd_addr, wr_addr = Signal(A), Signal(A)
        rd_left, aw_left = Signal(A), Signal(A)          # bursts still to request
        b_left = Signal(A)                                # write responses still due
        reserved = Signal(range(self._buffer + 1))        # buffer bytes promised to reads
        cycles = Signal(40)

        # ---- descriptors ----
        d = self.desc.payload
        aligned = ((d.src % B) == 0) & ((d.dst % B) == 0) & ((d.length % B) == 0) & (d.length != 0)
        m.d.comb += self.desc.ready.eq(~self.busy)
        with m.If(self.desc.valid & self.desc.ready):
            with m.If(aligned):
                m.d.sync += [self.busy.eq(1), rd_addr.eq(d.src), wr_addr.eq(d.dst),
                             rd_left.eq(d.length // B), aw_left.eq(d.length // B),
                             b_left.eq(d.length // B), cycles.eq(0)]
        with m.If(self.busy):
            m.d.sync += cycles.eq(cycles + 1)

        # ---- read requests: one burst whenever the buffer can take all of it ----
        can_read = self.busy & (rd_left != 0) & (reserved + B <= self._buffer)
        m.d.comb += [rd.arvalid.eq(can_read), rd.araddr.eq(rd_addr), rd.arlen.eq(rd_beats - 1),
                     rd.arsize.eq((rb - 1).bit_length()), rd.arburst.eq(BURST_INCR), rd.arid.eq(0)]
        ar_fire = rd.arvalid & rd.arready
        with m.If(ar_fire):
            m.d.sync += [rd_addr.eq(rd_addr + B), rd_left.eq(rd_left - 1)]

        # ---- read data -> buffer (gathered to the wider width) ----
        m.submodules.buffer = buf = fifo.SyncFIFOBuffered(width=word * 8,
                                                          depth=self._buffer // word)
        if rb >= wb:
            m.d.comb += [buf.w_data.eq(rd.rdata), buf.w_en.eq(rd.rvalid), rd.rready.eq(buf.w_rdy)]
        else:
            ratio = wb // rb
            gather = Signal(word * 8)
            filled = Signal(range(ratio))
            m.d.comb += rd.rready.eq(buf.w_rdy)
            r_fire = rd.rvalid & rd.rready
            m.d.comb += [buf.w_data.eq(Cat(gather[:(ratio - 1) * rb * 8], rd.rdata)),
                         buf.w_en.eq(r_fire & (filled == ratio - 1))]
            with m.If(r_fire):
                m.d.sync += filled.eq(Mux(filled == ratio - 1, 0, filled + 1))
                for i in range(ratio - 1):
                    with m.If(filled == i):
                        m.d.sync += gather[i * rb * 8:(i + 1) * rb * 8].eq(rd.rdata)

        # ---- write requests and data ----
        m.d.comb += [wr.awvalid.eq(self.busy & (aw_left != 0)), wr.awaddr.eq(wr_addr),
                     wr.awlen.eq(wr_beats - 1), wr.awsize.eq((wb - 1).bit_length()),
                     wr.awburst.eq(BURST_INCR), wr.awid.eq(0)]
        with m.If(wr.awvalid & wr.awready):
            m.d.sync += [wr_addr.eq(wr_addr + B), aw_left.eq(aw_left - 1)]
        beat = Signal(range(wr_beats))
        m.d.comb += wr.wstrb.eq(-1)
        if wb >= rb:
            m.d.comb += [wr.wvalid.eq(buf.r_rdy), wr.wdata.eq(buf.r_data)]
            w_fire = wr.wvalid & wr.wready
            m.d.comb += buf.r_en.eq(w_fire)
        else:
            ratio = rb // wb
            part = Signal(range(ratio))
            m.d.comb += [wr.wvalid.eq(buf.r_rdy),
                         wr.wdata.eq(buf.r_data.word_select(part, wb * 8))]
            w_fire = wr.wvalid & wr.wready
            m.d.comb += buf.r_en.eq(w_fire & (part == ratio - 1))
            with m.If(w_fire):
                m.d.sync += part.eq(Mux(part == ratio - 1, 0, part + 1))
        m.d.comb += wr.wlast.eq(beat == wr_beats - 1)
        with m.If(w_fire):
            m.d.sync += beat.eq(Mux(beat == wr_beats - 1, 0, beat + 1))
        m.d.sync += reserved.eq(reserved + Mux(ar_fire, B, 0) - Mux(w_fire, wb, 0))

        # ---- write responses: the copy is done at the last one ----
        m.d.comb += wr.bready.eq(1)
        bad_desc = self.desc.valid & self.desc.ready & ~aligned
        bad_r = rd.rvalid & rd.rready & (rd.rresp != RESP_OKAY)
        bad_b = wr.bvalid & (wr.bresp != RESP_OKAY)
        m.d.sync += self.errors.eq(self.errors + bad_desc + bad_r + bad_b)
        with m.If(wr.bvalid):
            m.d.sync += b_left.eq(b_left - 1)
            with m.If(self.busy & (b_left == 1)):
                m.d.sync += [self.busy.eq(0), self.copies.eq(self.copies + 1),
                             self.last_cycles.eq(cycles + 1)]
        # The read side of the write port and the write side of the read port stay idle.
        m.d.comb += [rd.awvalid.eq(0), rd.wvalid.eq(0), rd.bready.eq(1),
                     wr.arvalid.eq(0), wr.rready.eq(1)]
        return m
