"""Link transmitter: packetizer into a replay buffer, frame serializer with CRC, credits,
go-back-N retry (ACK/NAK from the peer, timeout) and control frames for the local receiver.

User words of VC ``v`` are accepted while ``sent[v] - freed_remote[v] < credit_limit``
(one credit = one receive-buffer word); a packet ends at ``last``, at
``max_payload`` words, when its VC runs out of credits or when its user pauses
while another VC has words (``last`` travels in the header's ``eom`` bit), and
stays in the replay buffer until the peer's cumulative ACK passes it. A NAK or a
timeout (no ACK progress for ``timeout`` cycles while packets are
unacknowledged) resends every unacknowledged frame from the oldest one asked for.

Control frames go out between data frames when the local receiver's state
changed (ACK or credits), a NAK or ACK was requested, or ``refresh`` cycles
passed (so a lost control frame heals), at most one every ``ctrl_interval``
cycles, except that one owing the peer an ACK or a NAK (a data frame was
committed since the last control frame, or the receiver asked) goes without
waiting for the interval while no data frame of ours waits for the wire: an
otherwise idle wire returns each data frame's ACK and credits at once, a busy
one still carries at most one control frame per interval. A change of state is
reported once the local receiver's user drains no word in a cycle
(``rx_draining`` low), so a data frame's credits travel together instead of its
first word's alone, or after ``ctrl_interval`` cycles at most. While ``hold``
is high no new frame starts (lets a test read counters of a quiet link).
"""

from amaranth.hdl import Array, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .control_scheduler import ControlScheduler
from .frame import send_layout
from .frame_serializer import FrameSerializer
from .packetizer import Packetizer
from .params import COUNT_BITS, SEQ_BITS, LinkParams
from .wire import FlitWire

__all__ = ["LinkTransmitter"]


class LinkTransmitter(wiring.Component):
    """Sending half of an endpoint (see module docstring); ``socket`` is its own socket id."""

    def __init__(self, params: LinkParams, socket: int):
        self._params = params
        self._socket = socket
        w, vcs = params.width, params.vcs
        super().__init__({
            "send": In(stream.Signature(send_layout(w))).array(vcs),
            "tx": Out(FlitWire(w)),
            "credit_limit": In(COUNT_BITS), "timeout": In(16), "ctrl_interval": In(8),
            "refresh": In(16), "hold": In(1),
            # from the local receiver: state to report, and what the peer told us
            "rx_expected": In(SEQ_BITS), "rx_freed": In(COUNT_BITS).array(vcs),
            "nak_request": In(1), "ack_request": In(1), "rx_draining": In(1),
            "peer_valid": In(1), "peer_ack": In(SEQ_BITS), "peer_nak": In(1),
            "peer_freed": In(COUNT_BITS).array(vcs),
            # observation (protocol checker) and statistics
            "sent": Out(COUNT_BITS).array(vcs), "freed_remote": Out(COUNT_BITS).array(vcs),
            "acked": Out(SEQ_BITS), "seq_next": Out(SEQ_BITS),
            "data_frames": Out(32), "ctrl_frames": Out(32), "replays": Out(32),
            "timeouts": Out(32), "naks": Out(32), "credit_stall_cycles": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        p = self._params
        vcs = p.vcs
        buffer = Memory(shape=p.width, depth=p.replay_depth, init=[])
        m.submodules.replay = buffer
        m.submodules.packetizer = packetizer = Packetizer(p, self._socket)
        m.submodules.serializer = serializer = FrameSerializer(p, self._socket)
        m.submodules.control = control = ControlScheduler(vcs)
        wiring.connect(m, packetizer.replay, buffer.write_port())
        read = buffer.read_port(domain="comb")
        m.d.comb += [read.addr.eq(serializer.replay_addr), serializer.replay_data.eq(read.data)]
        wiring.connect(m, serializer.wire, wiring.flipped(self.tx))

        head = Signal(COUNT_BITS)      # oldest flit not acknowledged
        rewind = Signal()
        rewind_seq = Signal(SEQ_BITS)
        tail, seq_next = packetizer.tail, packetizer.seq_next
        in_flight = Signal(SEQ_BITS)
        m.d.comb += in_flight.eq(seq_next - self.acked)

        # room for one more packet: in the buffer behind the oldest flit still needed
        # (unacknowledged, or in a frame being sent), and in the retry window
        by_head = Signal(COUNT_BITS)
        by_frame = Signal(COUNT_BITS)
        occupancy = Signal(COUNT_BITS)
        m.d.comb += [by_head.eq(tail - head), by_frame.eq(tail - serializer.frame_start),
                     occupancy.eq(Mux(serializer.sending_data & (by_frame > by_head),
                                      by_frame, by_head)),
                     packetizer.room.eq((occupancy + p.max_payload + 1 <= p.replay_depth)
                                        & (in_flight < p.window - 1)),
                     packetizer.credit_limit.eq(self.credit_limit),
                     self.seq_next.eq(seq_next),
                     self.credit_stall_cycles.eq(packetizer.credit_stall_cycles)]
        for v in range(vcs):
            wiring.connect(m, wiring.flipped(self.send[v]), packetizer.send[v])
            m.d.comb += [packetizer.freed_remote[v].eq(self.freed_remote[v]),
                         self.sent[v].eq(packetizer.sent[v]),
                         serializer.rx_freed[v].eq(self.rx_freed[v]),
                         control.rx_freed[v].eq(self.rx_freed[v])]
        for i in range(p.window):
            m.d.comb += serializer.starts[i].eq(packetizer.starts[i])
        m.d.comb += [
            serializer.head.eq(head), serializer.tail.eq(tail),
            serializer.seq_next.eq(seq_next), serializer.acked.eq(self.acked),
            serializer.rewind.eq(rewind), serializer.rewind_seq.eq(rewind_seq),
            serializer.hold.eq(self.hold), serializer.rx_expected.eq(self.rx_expected),
            serializer.ctrl_due.eq(control.due), serializer.ctrl_nak.eq(control.nak),
            control.sent.eq(serializer.ctrl_sent),
            control.data_waiting.eq((serializer.send_ptr != tail) | packetizer.busy),
            control.rx_expected.eq(self.rx_expected), control.rx_draining.eq(self.rx_draining),
            control.nak_request.eq(self.nak_request), control.ack_request.eq(self.ack_request),
            control.ctrl_interval.eq(self.ctrl_interval), control.refresh.eq(self.refresh),
            self.data_frames.eq(serializer.data_frames),
            self.ctrl_frames.eq(serializer.ctrl_frames), self.replays.eq(serializer.replays),
        ]
        self._acknowledgements(m, packetizer, serializer.rewound, head, rewind, rewind_seq,
                               in_flight)
        return m

    def _acknowledgements(self, m, packetizer, rewound, head, rewind, rewind_seq, in_flight):
        """ACKs and credits from the peer; a NAK, or no ACK progress for ``timeout`` cycles,
        asks the serializer to rewind (go-back-N)."""
        acked, seq_next, tail = self.acked, packetizer.seq_next, packetizer.tail
        starts = Array(packetizer.starts)
        wbits = self._params.window_bits
        timer = Signal(16)
        ack_distance = Signal(SEQ_BITS)
        m.d.comb += ack_distance.eq(self.peer_ack - acked)
        # first, so that a NAK arriving while a rewind is applied is kept
        with m.If(rewound):
            m.d.sync += [rewind.eq(0), timer.eq(0)]
        with m.If((acked != seq_next) & ~rewound):
            m.d.sync += timer.eq(timer + 1)
        with m.If(self.peer_valid):
            for v in range(self._params.vcs):
                with m.If((self.peer_freed[v] - self.freed_remote[v])[COUNT_BITS - 1] == 0):
                    m.d.sync += self.freed_remote[v].eq(self.peer_freed[v])
            with m.If(ack_distance <= in_flight):
                m.d.sync += [acked.eq(self.peer_ack),
                             head.eq(Mux(self.peer_ack == seq_next, tail,
                                         starts[self.peer_ack[:wbits]]))]
                with m.If(ack_distance != 0):
                    m.d.sync += timer.eq(0)
            with m.If(self.peer_nak):
                m.d.sync += [rewind.eq(1), rewind_seq.eq(self.peer_ack),
                             self.naks.eq(self.naks + 1)]
        with m.Elif((timer >= self.timeout) & (acked != seq_next) & ~rewind):
            m.d.sync += [rewind.eq(1), rewind_seq.eq(acked), timer.eq(0),
                         self.timeouts.eq(self.timeouts + 1)]
