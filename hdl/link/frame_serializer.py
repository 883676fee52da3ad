"""Link frame serializer: data frames from the replay buffer and control frames onto the wire."""

from amaranth.hdl import Array, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .crc import CRC_INIT, crc32_next
from .frame import KIND_CTRL, Header, pack_header
from .params import COUNT_BITS, SEQ_BITS, LinkParams
from .wire import FlitWire

__all__ = ["FrameSerializer"]


class FrameSerializer(wiring.Component):
    """Sends frames on ``wire`` back to back: header, body, CRC-32 (see :mod:`.frame`).

    Between frames, in this order: a pending ``rewind`` moves ``send_ptr`` back to
    the start of sequence number ``rewind_seq`` (``rewound`` pulses); ``hold``
    stops; a control frame goes out when ``ctrl_due`` (``ctrl_sent`` pulses), with
    the receiver's ``rx_expected``, ``ctrl_nak`` and ``rx_freed``; ``send_ptr``
    skips forward to ``head`` if an ACK passed it; else the data frame at
    ``send_ptr`` (read through ``replay_addr``/``replay_data``) goes out, counted
    in ``replays`` when its sequence number was sent before.
    """

    def __init__(self, params: LinkParams, socket: int):
        self._params = params
        self._socket = socket
        w, vcs = params.width, params.vcs
        super().__init__({
            "wire": Out(FlitWire(w)),
            "replay_addr": Out(params.replay_addr_bits), "replay_data": In(w),
            "head": In(COUNT_BITS), "tail": In(COUNT_BITS),
            "starts": In(COUNT_BITS).array(params.window),
            "seq_next": In(SEQ_BITS), "acked": In(SEQ_BITS),
            "rewind": In(1), "rewind_seq": In(SEQ_BITS), "rewound": Out(1),
            "hold": In(1),
            "ctrl_due": In(1), "ctrl_nak": In(1), "ctrl_sent": Out(1),
            "rx_expected": In(SEQ_BITS), "rx_freed": In(COUNT_BITS).array(vcs),
            "send_ptr": Out(COUNT_BITS), "frame_start": Out(COUNT_BITS), "sending_data": Out(1),
            "data_frames": Out(32), "ctrl_frames": Out(32), "replays": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        p = self._params
        w, vcs = p.width, p.vcs
        abits, wbits = p.replay_addr_bits, p.window_bits
        wire, send_ptr, tail = self.wire, self.send_ptr, self.tail
        starts = Array(self.starts)

        in_flight = Signal(SEQ_BITS)
        m.d.comb += in_flight.eq(self.seq_next - self.acked)
        crc = Signal(32)
        remaining = Signal(8)
        ctrl_words = Array(Signal(COUNT_BITS, name=f"ctrl_word{v}") for v in range(vcs))
        ctrl_index = Signal(range(vcs + 1))
        fresh_seq = Signal(SEQ_BITS)  # first sequence number never sent yet
        m.d.comb += self.replay_addr.eq(send_ptr[:abits])
        stored = Signal(Header)
        m.d.comb += stored.eq(self.replay_data[:30])
        by_head = Signal(COUNT_BITS)
        by_send = Signal(COUNT_BITS)
        behind = Signal()
        m.d.comb += [by_head.eq(tail - self.head), by_send.eq(tail - send_ptr),
                     behind.eq(by_send > by_head)]
        with m.FSM(name="serializer"):
            with m.State("IDLE"):
                m.d.comb += self.rewound.eq(self.rewind)
                with m.If(self.rewind):
                    target = self.rewind_seq
                    with m.If((target - self.acked)[:SEQ_BITS] <= in_flight):
                        m.d.sync += send_ptr.eq(Mux(target == self.seq_next, tail,
                                                    starts[target[:wbits]]))
                with m.Elif(self.hold):
                    pass
                with m.Elif(self.ctrl_due):
                    header = pack_header(KIND_CTRL, seq=self.rx_expected, length=vcs,
                                         src=self._socket, nak=self.ctrl_nak)
                    m.d.comb += [wire.valid.eq(1), wire.sop.eq(1), wire.data.eq(header),
                                 self.ctrl_sent.eq(1)]
                    m.d.sync += [ctrl_index.eq(0), self.ctrl_frames.eq(self.ctrl_frames + 1)]
                    for v in range(vcs):
                        m.d.sync += ctrl_words[v].eq(self.rx_freed[v])
                    m.next = "CTRL_BODY"
                with m.Elif(behind):
                    m.d.sync += send_ptr.eq(self.head)
                with m.Elif(send_ptr != tail):
                    m.d.comb += [wire.valid.eq(1), wire.sop.eq(1),
                                 wire.data.eq(self.replay_data)]
                    m.d.sync += [remaining.eq(stored.length), self.frame_start.eq(send_ptr),
                                 self.sending_data.eq(1), send_ptr.eq(send_ptr + 1),
                                 self.data_frames.eq(self.data_frames + 1)]
                    with m.If(stored.seq == fresh_seq):
                        m.d.sync += fresh_seq.eq(fresh_seq + 1)
                    with m.Else():
                        m.d.sync += self.replays.eq(self.replays + 1)
                    m.next = "DATA_BODY"
            with m.State("DATA_BODY"):
                m.d.comb += [wire.valid.eq(1), wire.data.eq(self.replay_data)]
                m.d.sync += [send_ptr.eq(send_ptr + 1),
                             remaining.eq(remaining - 1)]
                with m.If(remaining == 1):
                    m.next = "CRC"
            with m.State("CTRL_BODY"):
                word = Signal(w)
                m.d.comb += [word.eq(ctrl_words[ctrl_index]), wire.valid.eq(1),
                             wire.data.eq(word)]
                m.d.sync += ctrl_index.eq(ctrl_index + 1)
                with m.If(ctrl_index == vcs - 1):
                    m.next = "CRC"
            with m.State("CRC"):
                m.d.comb += [wire.valid.eq(1), wire.eop.eq(1), wire.data.eq(crc)]
                m.d.sync += self.sending_data.eq(0)
                m.next = "IDLE"
        # One CRC update for every flit but the CRC flit itself, restarted at each header.
        with m.If(wire.valid & ~wire.eop):
            m.d.sync += crc.eq(crc32_next(Mux(wire.sop, Const(CRC_INIT, 32), crc),
                                          wire.data, w))
        return m
