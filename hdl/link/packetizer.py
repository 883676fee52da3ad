"""Link packetizer: user words of every VC into data frames in the replay buffer."""

from amaranth.hdl import Array, C, Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import WritePort
from amaranth.lib.wiring import In, Out

from .frame import KIND_DATA, pack_header, send_layout
from .params import COUNT_BITS, SEQ_BITS, LinkParams

__all__ = ["Packetizer"]


class Packetizer(wiring.Component):
    """Writes packets into the replay buffer (``replay``) and commits them in order.

    A packet starts when ``room`` is high and a VC with credits offers a word
    (VCs take turns); its words go to the buffer behind a reserved header slot.
    It ends at ``last``, at ``max_payload`` words, when its VC runs out of credits
    or when its user pauses while another VC has words; then the header is
    written, ``tail`` moves past the packet, ``starts`` records where sequence
    number ``seq_next`` begins and ``seq_next`` advances. One credit is one word:
    VC ``v`` may send while ``sent[v] - freed_remote[v] < credit_limit``.
    """

    def __init__(self, params: LinkParams, socket: int):
        self._params = params
        self._socket = socket
        w, vcs = params.width, params.vcs
        super().__init__({
            "send": In(stream.Signature(send_layout(w))).array(vcs),
            "credit_limit": In(COUNT_BITS), "freed_remote": In(COUNT_BITS).array(vcs),
            "room": In(1),
            "replay": In(WritePort.Signature(addr_width=params.replay_addr_bits, shape=w)),
            "tail": Out(COUNT_BITS), "seq_next": Out(SEQ_BITS),
            "starts": Out(COUNT_BITS).array(params.window),
            "busy": Out(1),
            "sent": Out(COUNT_BITS).array(vcs), "credit_stall_cycles": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        p = self._params
        vcs = p.vcs
        abits = p.replay_addr_bits
        tail, seq_next, wport = self.tail, self.seq_next, self.replay
        starts = Array(self.starts)
        build = Signal(COUNT_BITS)

        has_credit = Signal(vcs)
        for v in range(vcs):
            outstanding = Signal(COUNT_BITS, name=f"outstanding{v}")
            m.d.comb += [outstanding.eq(self.sent[v] - self.freed_remote[v]),
                         has_credit[v].eq(outstanding < self.credit_limit)]

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
        with m.FSM(name="packetizer") as fsm:
            with m.State("IDLE"):
                with m.If(can_start & self.room):
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
                m.d.sync += [starts[seq_next[:p.window_bits]].eq(tail),
                             tail.eq(build), seq_next.eq(seq_next + 1),
                             rotate.eq(Mux(current == vcs - 1, 0, current + 1))]
                m.next = "IDLE"
        m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
        return m
