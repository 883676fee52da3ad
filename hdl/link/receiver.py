"""Link receiver: frame delimiting, CRC-32 check, in-order acceptance, per-VC buffers.

Frames arrive as contiguous runs of flits from ``sop`` to ``eop`` (the
transmitter never pauses inside a frame), so an empty slot inside a frame means
a dropped flit. Detected errors:

* ``crc_errors``: a complete frame whose CRC flit does not match;
* ``framing_errors``: a frame cut short (empty slot, or a new ``sop``), a flit
  outside any frame (its ``sop`` was dropped), or a payload count that differs
  from the header's length.

Once a damaged frame is seen, the rest of it is skipped silently until its
``eop``, an empty slot or the next ``sop``. A clean data frame is stored when its
sequence number is the one expected (written into its VC buffer as it arrives,
committed at a good CRC, rolled back otherwise); a later number is a sequence
gap (NAK, once per expected number), an earlier one a duplicate (ACK resent).
A clean control frame goes to the local transmitter (``peer_*``). The credits
returned are the words each VC's user has drained (``freed``, cumulative).
"""

from amaranth.hdl import Array, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .crc import CRC_INIT, crc32_next
from .frame import KIND_CTRL, KIND_DATA, Header, recv_layout
from .params import COUNT_BITS, SEQ_BITS, LinkParams
from .wire import FlitWire

__all__ = ["LinkReceiver"]

class LinkReceiver(wiring.Component):
    """Receiving half of an endpoint (see module docstring)."""

    def __init__(self, params: LinkParams):
        self._params = params
        w, vcs = params.width, params.vcs
        super().__init__({
            "rx": In(FlitWire(w)),
            "recv": Out(stream.Signature(recv_layout(w))).array(vcs),
            "expected": Out(SEQ_BITS), "freed": Out(COUNT_BITS).array(vcs),
            "nak_request": Out(1), "ack_request": Out(1),
            "peer_valid": Out(1), "peer_ack": Out(SEQ_BITS), "peer_nak": Out(1),
            "peer_freed": Out(COUNT_BITS).array(vcs),
            "commit_valid": Out(1), "commit_seq": Out(SEQ_BITS),
            "frames_ok": Out(32), "crc_errors": Out(32), "framing_errors": Out(32),
            "seq_gaps": Out(32), "duplicates": Out(32), "rejected": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        p = self._params
        w, vcs = p.width, p.vcs
        layout = recv_layout(w)

        written = [Signal(COUNT_BITS, name=f"written{v}") for v in range(vcs)]
        free = [Signal(COUNT_BITS, name=f"free{v}") for v in range(vcs)]
        write_ports = []
        for v, depth in enumerate(p.buffer_depths):
            memory = Memory(shape=layout, depth=depth, init=[])
            m.submodules[f"vc{v}_buffer"] = memory
            write_ports.append(memory.write_port())
            read = memory.read_port(domain="comb")
            abits = max(1, (depth - 1).bit_length()) if depth > 1 else 0
            level = Signal(COUNT_BITS, name=f"level{v}")
            m.d.comb += [level.eq(written[v] - self.freed[v]),
                         free[v].eq(depth - level),
                         self.recv[v].valid.eq(level != 0),
                         self.recv[v].payload.eq(read.data)]
            if abits:
                m.d.comb += read.addr.eq(self.freed[v][:abits])
            with m.If(self.recv[v].valid & self.recv[v].ready):
                m.d.sync += self.freed[v].eq(self.freed[v] + 1)

        header = Signal(Header)
        incoming = Signal(Header)
        m.d.comb += incoming.eq(self.rx.data[:30])
        count = Signal(8)
        crc = Signal(32)
        store = Signal()
        spec = Signal(COUNT_BITS)
        nak_armed = Signal(init=1)
        ctrl_words = Array(Signal(COUNT_BITS, name=f"ctrl_word{v}") for v in range(vcs))

        free_in = Array(free)[incoming.vc]
        written_in = Array(written)[incoming.vc]
        fits = Signal()
        m.d.comb += fits.eq((incoming.kind == KIND_DATA) & (incoming.vc < vcs) &
                            (incoming.seq == self.expected) & (incoming.length != 0) &
                            (incoming.length <= p.max_payload) & (incoming.length <= free_in))

        def nak():
            with m.If(nak_armed):
                m.d.comb += self.nak_request.eq(1)
                m.d.sync += nak_armed.eq(0)

        def framing_error():
            m.d.sync += self.framing_errors.eq(self.framing_errors + 1)
            nak()

        def begin_frame():
            m.d.sync += [header.eq(incoming), count.eq(0), store.eq(fits), spec.eq(written_in)]

        payload = Signal(layout)
        m.d.comb += [payload.data.eq(self.rx.data), payload.src.eq(header.src),
                     payload.dest.eq(header.dst),
                     payload.last.eq(header.eom & (count + 1 == header.length))]
        for v, port in enumerate(write_ports):
            abits = (p.buffer_depths[v] - 1).bit_length()
            if abits:
                m.d.comb += port.addr.eq(spec[:abits])
            m.d.comb += port.data.eq(payload)

        # The CRC register follows every flit; only its value at a frame's eop matters.
        m.d.sync += crc.eq(crc32_next(Mux(self.rx.sop, Const(CRC_INIT, 32), crc), self.rx.data, w))
        with m.FSM(name="framer"):
            with m.State("IDLE"):
                with m.If(self.rx.valid):
                    with m.If(self.rx.sop & ~self.rx.eop):
                        begin_frame()
                        m.next = "FRAME"
                    with m.Else():
                        framing_error()
                        with m.If(~self.rx.eop):
                            m.next = "DISCARD"
            with m.State("DISCARD"):
                with m.If(~self.rx.valid | self.rx.eop):
                    m.next = "IDLE"
                with m.If(self.rx.valid & self.rx.sop & ~self.rx.eop):
                    begin_frame()
                    m.next = "FRAME"
            with m.State("FRAME"):
                with m.If(~self.rx.valid):
                    framing_error()
                    m.next = "DISCARD"
                with m.Elif(self.rx.sop):
                    framing_error()
                    with m.If(~self.rx.eop):
                        begin_frame()
                    with m.Else():
                        m.next = "IDLE"
                with m.Elif(~self.rx.eop):
                    m.d.sync += count.eq(count + (count != 255))
                    with m.If(store & (count < header.length)):
                        for v, port in enumerate(write_ports):
                            m.d.comb += port.en.eq(header.vc == v)
                        m.d.sync += spec.eq(spec + 1)
                    for v in range(vcs):
                        with m.If(count == v):
                            m.d.sync += ctrl_words[v].eq(self.rx.data[:COUNT_BITS])
                with m.Else():
                    m.next = "IDLE"
                    self._end_of_frame(m, header, count, crc, store, spec, written, ctrl_words,
                                       nak, nak_armed, framing_error)
        return m

    def _end_of_frame(self, m, header, count, crc, store, spec, written, ctrl_words, nak,
                      nak_armed, framing_error):
        vcs = self._params.vcs
        with m.If(count != header.length):
            framing_error()
        with m.Elif(self.rx.data != crc):
            m.d.sync += self.crc_errors.eq(self.crc_errors + 1)
            nak()
        with m.Else():
            m.d.sync += self.frames_ok.eq(self.frames_ok + 1)
            distance = Signal(SEQ_BITS)
            m.d.comb += distance.eq(header.seq - self.expected)
            with m.If(header.kind == KIND_CTRL):
                with m.If(header.length == vcs):
                    m.d.comb += [self.peer_valid.eq(1), self.peer_ack.eq(header.seq),
                                 self.peer_nak.eq(header.nak)]
                    for v in range(vcs):
                        m.d.comb += self.peer_freed[v].eq(ctrl_words[v])
                with m.Else():
                    m.d.sync += self.rejected.eq(self.rejected + 1)
            with m.Elif(header.kind != KIND_DATA):
                m.d.sync += self.rejected.eq(self.rejected + 1)
            with m.Elif(distance == 0):
                with m.If(store):
                    for v in range(vcs):
                        with m.If(header.vc == v):
                            m.d.sync += written[v].eq(spec)
                    m.d.sync += [self.expected.eq(self.expected + 1), nak_armed.eq(1)]
                    m.d.comb += [self.commit_valid.eq(1), self.commit_seq.eq(header.seq)]
                with m.Else():
                    m.d.sync += self.rejected.eq(self.rejected + 1)
            with m.Elif(distance < (1 << (SEQ_BITS - 1))):
                m.d.sync += self.seq_gaps.eq(self.seq_gaps + 1)
                nak()
            with m.Else():
                m.d.sync += self.duplicates.eq(self.duplicates + 1)
                m.d.comb += self.ack_request.eq(1)
