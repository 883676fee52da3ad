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

from amaranth.hdl import Array, C, Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .crc import CRC_INIT, crc32_next
from .frame import KIND_CTRL, KIND_DATA, Header, pack_header, send_layout
from .params import COUNT_BITS, SEQ_BITS, LinkParams

__all__ = ["LinkTransmitter"]


class LinkTransmitter(wiring.Component):
    """Sending half of an endpoint (see module docstring); ``socket`` is its own socket id."""

    def __init__(self, params: LinkParams, socket: int):
        self._params = params
        self._socket = socket
        w, vcs = params.width, params.vcs
        super().__init__({
            "send": In(stream.Signature(send_layout(w))).array(vcs),
            "o_valid": Out(1), "o_data": Out(w), "o_sop": Out(1), "o_eop": Out(1),
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
        w, vcs, window = p.width, p.vcs, p.window
        depth = p.replay_depth
        abits = (depth - 1).bit_length()

        buffer = Memory(shape=w, depth=depth, init=[])
        m.submodules.replay = buffer
        wport = buffer.write_port()
        rport = buffer.read_port(domain="comb")

        head, tail, build, send_ptr = (Signal(COUNT_BITS, name=n)
                                       for n in ("head", "tail", "build", "send_ptr"))
        frame_start = Signal(COUNT_BITS)
        sending_data = Signal()
        starts = Array(Signal(COUNT_BITS, name=f"start{i}") for i in range(window))
        seq_next, acked = self.seq_next, self.acked

        outstanding = [Signal(COUNT_BITS, name=f"outstanding{v}") for v in range(vcs)]
        has_credit = Signal(vcs)
        for v in range(vcs):
            m.d.comb += [outstanding[v].eq(self.sent[v] - self.freed_remote[v]),
                         has_credit[v].eq(outstanding[v] < self.credit_limit)]

        # --- packetizer: user words -> replay buffer ---
        occupancy = Signal(COUNT_BITS)
        by_head = Signal(COUNT_BITS)
        by_frame = Signal(COUNT_BITS)
        m.d.comb += [by_head.eq(tail - head), by_frame.eq(tail - frame_start),
                     occupancy.eq(Mux(sending_data & (by_frame > by_head), by_frame, by_head))]
        in_flight = Signal(SEQ_BITS)
        m.d.comb += in_flight.eq(seq_next - acked)
        room = Signal()
        m.d.comb += room.eq((occupancy + p.max_payload + 1 <= depth) & (in_flight < window - 1))

        # At least one bit: with one VC a zero-width index would be emitted as an
        # ascending [-1:0] range. Values stay below vcs either way.
        vc_index = range(max(vcs, 2))
        current = Signal(vc_index)
        rotate = Signal(vc_index)
        length = Signal(8)
        dest = Signal(4)
        eom = Signal()
        pick = Signal(vc_index)
        can_start = Signal()
        offers = Cat(self.send[v].valid & has_credit[v] for v in range(vcs))
        with m.Switch(rotate):
            for first in range(vcs):
                with m.Case(first):
                    for k in reversed(range(vcs)):
                        v = (first + k) % vcs
                        with m.If(offers[v]):
                            m.d.comb += [pick.eq(v), can_start.eq(1)]

        send_payload = Array(self.send[v].payload for v in range(vcs))[current]
        with m.FSM(name="packetizer") as packetizer:
            with m.State("IDLE"):
                with m.If(can_start & room):
                    m.d.sync += [current.eq(pick), build.eq(tail + 1), length.eq(0)]
                    m.next = "FILL"
            with m.State("FILL"):
                for v in range(vcs):
                    m.d.comb += self.send[v].ready.eq((current == v) & has_credit[v])
                    with m.If(self.send[v].valid & self.send[v].ready):
                        m.d.sync += self.sent[v].eq(self.sent[v] + 1)
                    with m.If((current == v) & self.send[v].valid & ~has_credit[v]):
                        m.d.sync += self.credit_stall_cycles.eq(self.credit_stall_cycles + 1)
                accepted = Array(self.send[v].valid & self.send[v].ready
                                 for v in range(vcs))[current]
                with m.If(accepted):
                    m.d.comb += [wport.addr.eq(build[:abits]),
                                 wport.data.eq(send_payload.data), wport.en.eq(1)]
                    m.d.sync += [build.eq(build + 1), length.eq(length + 1)]
                    with m.If(length == 0):
                        m.d.sync += dest.eq(send_payload.dest)
                    with m.If(send_payload.last | (length + 1 == p.max_payload)):
                        m.d.sync += eom.eq(send_payload.last)
                        m.next = "HEADER"
                others_offer = (offers & ~(C(1, vcs) << current)[:vcs]).any()
                with m.Elif((length != 0) & (~has_credit.bit_select(current, 1) | (
                        ~offers.bit_select(current, 1) & others_offer))):
                    # Out of credits, or waiting for words while another VC has some: send
                    # what is there, so no VC waits on another and credits keep flowing.
                    m.d.sync += eom.eq(0)
                    m.next = "HEADER"
            with m.State("HEADER"):
                header = pack_header(KIND_DATA, vc=current, seq=seq_next,
                                     length=length, src=self._socket, dst=dest, eom=eom)
                m.d.comb += [wport.addr.eq(tail[:abits]), wport.data.eq(header), wport.en.eq(1)]
                m.d.sync += [starts[seq_next[:(window - 1).bit_length()]].eq(tail),
                             tail.eq(build), seq_next.eq(seq_next + 1),
                             rotate.eq(Mux(current == vcs - 1, 0, current + 1))]
                m.next = "IDLE"

        # --- acknowledgements, credits, retry ---
        wbits = (window - 1).bit_length()
        rewind_pending = Signal()
        rewind_seq = Signal(SEQ_BITS)
        timer = Signal(16)
        apply_rewind = Signal()
        ack_distance = Signal(SEQ_BITS)
        m.d.comb += ack_distance.eq(self.peer_ack - acked)
        # --- control frame scheduling ---
        nak_pending = Signal()
        force_pending = Signal()
        interval = Signal(8)
        refresh = Signal(16)
        last_expected = Signal(SEQ_BITS)
        last_freed = [Signal(COUNT_BITS, name=f"last_freed{v}") for v in range(vcs)]
        dirty = Signal()
        m.d.comb += dirty.eq((self.rx_expected != last_expected) | Cat(
            self.rx_freed[v] != last_freed[v] for v in range(vcs)).any())
        # ``stale``: cycles the receiver's state has differed from the last control frame.
        # A change is reported once the local user drains nothing in a cycle (the rest of
        # a data frame's credits would follow within cycles) or after ``ctrl_interval``.
        stale = Signal(8)
        settled = Signal()
        m.d.comb += settled.eq(~self.rx_draining | (stale + 1 >= self.ctrl_interval))
        with m.If(dirty & (stale != 255)):
            m.d.sync += stale.eq(stale + 1)
        # An ACK is owed once a data frame was committed since the last control frame (or
        # asked for), a NAK once asked for; neither waits for the interval while no data
        # frame of ours waits for the wire.
        data_waiting = Signal()
        early = Signal()
        m.d.comb += early.eq(((self.rx_expected != last_expected) | nak_pending | force_pending)
                             & ~data_waiting)
        ctrl_due = Signal()
        m.d.comb += ctrl_due.eq(((interval == 0) | early) & (
            nak_pending | force_pending | (dirty & settled) | (refresh == 0)))
        with m.If(interval != 0):
            m.d.sync += interval.eq(interval - 1)
        with m.If(refresh != 0):
            m.d.sync += refresh.eq(refresh - 1)
        with m.If(self.nak_request):
            m.d.sync += nak_pending.eq(1)
        with m.If(self.ack_request):
            m.d.sync += force_pending.eq(1)

        # --- serializer ---
        crc = Signal(32)
        remaining = Signal(8)
        ctrl_words = Array(Signal(COUNT_BITS, name=f"ctrl_word{v}") for v in range(vcs))
        ctrl_index = Signal(range(vcs + 1))
        fresh_seq = Signal(SEQ_BITS)  # first sequence number never sent yet
        m.d.comb += rport.addr.eq(send_ptr[:abits])
        stored = Signal(Header)
        m.d.comb += stored.eq(rport.data[:30])
        by_send = Signal(COUNT_BITS)
        behind = Signal()
        m.d.comb += [by_send.eq(tail - send_ptr), behind.eq(by_send > by_head),
                     data_waiting.eq((send_ptr != tail) | ~packetizer.ongoing("IDLE"))]
        with m.FSM(name="serializer"):
            with m.State("IDLE"):
                m.d.comb += apply_rewind.eq(rewind_pending)
                with m.If(rewind_pending):
                    target = rewind_seq
                    m.d.sync += [rewind_pending.eq(0), timer.eq(0)]
                    with m.If((target - acked)[:SEQ_BITS] <= in_flight):
                        m.d.sync += send_ptr.eq(Mux(target == seq_next, tail,
                                                    starts[target[:wbits]]))
                with m.Elif(self.hold):
                    pass
                with m.Elif(ctrl_due):
                    header = pack_header(KIND_CTRL, seq=self.rx_expected, length=vcs,
                                         src=self._socket, nak=nak_pending)
                    m.d.comb += [self.o_valid.eq(1), self.o_sop.eq(1), self.o_data.eq(header)]
                    m.d.sync += [ctrl_index.eq(0), nak_pending.eq(0), force_pending.eq(0),
                                 interval.eq(self.ctrl_interval), stale.eq(0),
                                 refresh.eq(self.refresh),
                                 last_expected.eq(self.rx_expected),
                                 self.ctrl_frames.eq(self.ctrl_frames + 1)]
                    for v in range(vcs):
                        m.d.sync += [ctrl_words[v].eq(self.rx_freed[v]),
                                     last_freed[v].eq(self.rx_freed[v])]
                    m.next = "CTRL_BODY"
                with m.Elif(behind):
                    m.d.sync += send_ptr.eq(head)
                with m.Elif(send_ptr != tail):
                    m.d.comb += [self.o_valid.eq(1), self.o_sop.eq(1),
                                 self.o_data.eq(rport.data)]
                    m.d.sync += [remaining.eq(stored.length), frame_start.eq(send_ptr),
                                 sending_data.eq(1), send_ptr.eq(send_ptr + 1),
                                 self.data_frames.eq(self.data_frames + 1)]
                    with m.If(stored.seq == fresh_seq):
                        m.d.sync += fresh_seq.eq(fresh_seq + 1)
                    with m.Else():
                        m.d.sync += self.replays.eq(self.replays + 1)
                    m.next = "DATA_BODY"
            with m.State("DATA_BODY"):
                m.d.comb += [self.o_valid.eq(1), self.o_data.eq(rport.data)]
                m.d.sync += [send_ptr.eq(send_ptr + 1),
                             remaining.eq(remaining - 1)]
                with m.If(remaining == 1):
                    m.next = "CRC"
            with m.State("CTRL_BODY"):
                word = Signal(w)
                m.d.comb += [word.eq(ctrl_words[ctrl_index]), self.o_valid.eq(1),
                             self.o_data.eq(word)]
                m.d.sync += ctrl_index.eq(ctrl_index + 1)
                with m.If(ctrl_index == vcs - 1):
                    m.next = "CRC"
            with m.State("CRC"):
                m.d.comb += [self.o_valid.eq(1), self.o_eop.eq(1), self.o_data.eq(crc)]
                m.d.sync += sending_data.eq(0)
                m.next = "IDLE"
        # One CRC update for every flit but the CRC flit itself, restarted at each header.
        with m.If(self.o_valid & ~self.o_eop):
            m.d.sync += crc.eq(crc32_next(Mux(self.o_sop, Const(CRC_INIT, 32), crc),
                                          self.o_data, w))
        # After the serializer: a NAK arriving while a rewind is applied is kept.
        with m.If((acked != seq_next) & ~apply_rewind):
            m.d.sync += timer.eq(timer + 1)
        with m.If(self.peer_valid):
            for v in range(vcs):
                with m.If((self.peer_freed[v] - self.freed_remote[v])[COUNT_BITS - 1] == 0):
                    m.d.sync += self.freed_remote[v].eq(self.peer_freed[v])
            with m.If(ack_distance <= in_flight):
                m.d.sync += [acked.eq(self.peer_ack),
                             head.eq(Mux(self.peer_ack == seq_next, tail,
                                         starts[self.peer_ack[:wbits]]))]
                with m.If(ack_distance != 0):
                    m.d.sync += timer.eq(0)
            with m.If(self.peer_nak):
                m.d.sync += [rewind_pending.eq(1), rewind_seq.eq(self.peer_ack),
                             self.naks.eq(self.naks + 1)]
        with m.Elif((timer >= self.timeout) & (acked != seq_next) & ~rewind_pending):
            m.d.sync += [rewind_pending.eq(1), rewind_seq.eq(acked), timer.eq(0),
                         self.timeouts.eq(self.timeouts + 1)]
        return m
