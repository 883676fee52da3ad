"""One end of an RDU-to-RDU link: transmitter and receiver sharing ACK/credit state.

User side: ``send[v]`` (In, {dest, data, last}) and ``recv[v]`` (Out, {src, dest,
data, last}) valid/ready streams per virtual channel. Wire side: ``tx`` flits
out, ``rx`` flits in (:class:`~.wire.FlitWire`: ``valid``/``data``/``sop``/``eop``,
no back-pressure).
Run-time settings: ``credit_limit`` (words per VC, at most the peer's buffer
depth), ``timeout`` (cycles without ACK progress before a replay),
``ctrl_interval`` (least cycles between control frames, except an ACK or NAK
on an otherwise idle wire, and longest wait for the receiving user to pause
before a change is reported; see ``transmitter.py``), ``refresh`` (cycles after
which an unchanged control frame is sent again), ``hold`` (start no new frame).
"""

from amaranth.hdl import Cat, Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .frame import recv_layout, send_layout
from .params import COUNT_BITS, SEQ_BITS, LinkParams
from .receiver import LinkReceiver
from .transmitter import LinkTransmitter
from .wire import FlitWire

__all__ = ["LinkEndpoint", "TX_STATS", "RX_STATS"]

TX_STATS = ("data_frames", "ctrl_frames", "replays", "timeouts", "naks", "credit_stall_cycles")
RX_STATS = ("frames_ok", "crc_errors", "framing_errors", "seq_gaps", "duplicates", "rejected")


class LinkEndpoint(wiring.Component):
    """Transmitter + receiver of socket ``socket`` (see module docstring)."""

    def __init__(self, params: LinkParams, socket: int):
        self._params = params
        self._socket = socket
        w, vcs = params.width, params.vcs
        members = {
            "send": In(stream.Signature(send_layout(w))).array(vcs),
            "recv": Out(stream.Signature(recv_layout(w))).array(vcs),
            "tx": Out(FlitWire(w)), "rx": In(FlitWire(w)),
            "credit_limit": In(COUNT_BITS), "timeout": In(16), "ctrl_interval": In(8),
            "refresh": In(16), "hold": In(1),
            # observation for the protocol checker
            "sent": Out(COUNT_BITS).array(vcs), "freed_remote": Out(COUNT_BITS).array(vcs),
            "freed": Out(COUNT_BITS).array(vcs), "acked": Out(SEQ_BITS),
            "seq_next": Out(SEQ_BITS), "commit_valid": Out(1), "commit_seq": Out(SEQ_BITS),
        }
        members.update({f"tx_{name}": Out(32) for name in TX_STATS})
        members.update({f"rx_{name}": Out(32) for name in RX_STATS})
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        vcs = self._params.vcs
        m.submodules.tx = tx = LinkTransmitter(self._params, self._socket)
        m.submodules.rx = rx = LinkReceiver(self._params)
        for v in range(vcs):
            wiring.connect(m, wiring.flipped(self.send[v]), tx.send[v])
            wiring.connect(m, rx.recv[v], wiring.flipped(self.recv[v]))
            m.d.comb += [tx.rx_freed[v].eq(rx.freed[v]), tx.peer_freed[v].eq(rx.peer_freed[v]),
                         self.sent[v].eq(tx.sent[v]), self.freed_remote[v].eq(tx.freed_remote[v]),
                         self.freed[v].eq(rx.freed[v])]
        wiring.connect(m, tx.tx, wiring.flipped(self.tx))
        wiring.connect(m, wiring.flipped(self.rx), rx.rx)
        m.d.comb += [
            tx.credit_limit.eq(self.credit_limit), tx.timeout.eq(self.timeout),
            tx.ctrl_interval.eq(self.ctrl_interval), tx.refresh.eq(self.refresh),
            tx.hold.eq(self.hold),
            tx.rx_expected.eq(rx.expected), tx.nak_request.eq(rx.nak_request),
            tx.ack_request.eq(rx.ack_request), tx.peer_valid.eq(rx.peer_valid),
            tx.rx_draining.eq(Cat(rx.recv[v].valid & rx.recv[v].ready for v in range(vcs)).any()),
            tx.peer_ack.eq(rx.peer_ack), tx.peer_nak.eq(rx.peer_nak),
            self.acked.eq(tx.acked), self.seq_next.eq(tx.seq_next),
            self.commit_valid.eq(rx.commit_valid), self.commit_seq.eq(rx.commit_seq),
        ]
        for name in TX_STATS:
            m.d.comb += getattr(self, f"tx_{name}").eq(getattr(tx, name))
        for name in RX_STATS:
            m.d.comb += getattr(self, f"rx_{name}").eq(getattr(rx, name))
        return m
