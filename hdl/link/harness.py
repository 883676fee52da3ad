"""Two link endpoints joined by two channel models, with RTL traffic and checkers.

Direction ``ab`` runs from endpoint A (socket ``socket_a``) to B, ``ba`` back.
Each direction has per VC a :class:`TrafficGenerator` at its sender and a
:class:`TrafficChecker` at its receiver (enabled per VC by ``enable_ab`` /
``enable_ba`` bit masks) and a :class:`LinkProtocolChecker` that always runs.
With ``external`` high, A's send streams come from the ports ``ext_send[v]`` and
B's receive streams go to ``ext_recv[v]`` instead (for stream-level tests from
cocotb); the ``ab`` checkers then see no traffic.

Settings (hold them steady, pulse ``start`` once, then raise ``run``; raise
``hold`` to stop new frames before reading counters): see
``SETTINGS``. Per-VC generator seeds are ``seed_for(gen_seed, direction, vc)``.
Results: the ports named by :func:`stat_names`.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .channel import PhysicalChannel
from .endpoint import RX_STATS, TX_STATS, LinkEndpoint
from .frame import recv_layout, send_layout
from .params import COUNT_BITS, LinkParams
from .protocol_checker import LinkProtocolChecker
from .traffic import TrafficChecker, TrafficGenerator

__all__ = ["LinkHarness", "make_link_harness", "stat_names", "seed_for", "SETTINGS",
           "DIRECTIONS", "CHANNEL_STATS", "CHECKER_STATS"]

DIRECTIONS = ("ab", "ba")
CHANNEL_STATS = ("flits", "flips", "drops", "frames", "frames_damaged")
CHECKER_STATS = ("words", "packets_ok", "packets_seen", "corrupted_words", "duplicates",
                 "out_of_order", "socket_errors", "done", "first_cycle_sum", "first_word_cycle",
                 "last_word_cycle", "sent_words", "sent_first_cycle_sum")
PROTOCOL_STATS = ("violations", "first_rule", "commits_checked")
SETTINGS = {
    "credit_limit": COUNT_BITS, "latency": 13, "flip_threshold": 32, "drop_threshold": 32,
    "channel_seed": 32, "timeout": 16, "ctrl_interval": 8, "refresh": 16, "packets": 16,
    "fixed_length": 8, "length_mask": 8, "gen_seed": 32, "src_stall": 32, "snk_stall": 32,
    "enable_ab": 4, "enable_ba": 4, "external": 1,
}


def seed_for(gen_seed: int, direction: int, vc: int) -> int:
    """The traffic seed of one VC of one direction (0 = ab, 1 = ba)."""
    return (gen_seed + 0x9E3779B9 * (1 + vc + 4 * direction)) & 0xFFFFFFFF


def stat_names(params: LinkParams) -> list[str]:
    """Every result port of the harness."""
    names = ["cycle"]
    for d in DIRECTIONS:
        names += [f"{d}_ch_{n}" for n in CHANNEL_STATS]
        names += [f"{d}_tx_{n}" for n in TX_STATS] + [f"{d}_rx_{n}" for n in RX_STATS]
        names += [f"{d}_proto_{n}" for n in PROTOCOL_STATS]
        names += [f"{d}_vc{v}_{n}" for v in range(params.vcs) for n in CHECKER_STATS]
    return names


class LinkHarness(wiring.Component):
    """Endpoints A and B, channels, traffic generators and checkers (see module docstring)."""

    def __init__(self, params: LinkParams):
        self._params = params
        w, vcs = params.width, params.vcs
        if SETTINGS["latency"] < params.delay_slots.bit_length() - 1:
            raise ValueError(f"max_latency {params.max_latency} exceeds the latency port")
        members = {"start": In(1), "run": In(1), "hold": In(1)}
        members.update({name: In(bits) for name, bits in SETTINGS.items()})
        members["ext_send"] = In(stream.Signature(send_layout(w))).array(vcs)
        members["ext_recv"] = Out(stream.Signature(recv_layout(w))).array(vcs)
        members["cycle"] = Out(48)
        for name in stat_names(params)[1:]:
            members[name] = Out(64 if "sum" in name else 48 if name.endswith("_cycle") else 32)
        super().__init__(members)

    @property
    def params(self) -> LinkParams:
        return self._params

    def elaborate(self, platform):
        m = Module()
        p = self._params
        vcs = p.vcs
        m.d.sync += self.cycle.eq(self.cycle + 1)
        ends = {"a": LinkEndpoint(p, p.socket_a), "b": LinkEndpoint(p, p.socket_b)}
        m.submodules.endpoint_a, m.submodules.endpoint_b = ends["a"], ends["b"]
        for end in ends.values():
            m.d.comb += [end.credit_limit.eq(self.credit_limit), end.timeout.eq(self.timeout),
                         end.ctrl_interval.eq(self.ctrl_interval), end.refresh.eq(self.refresh),
                         end.hold.eq(self.hold)]
        sockets = {"a": p.socket_a, "b": p.socket_b}
        for index, d in enumerate(DIRECTIONS):
            sender, receiver = ends[d[0]], ends[d[1]]
            channel = PhysicalChannel(p)
            m.submodules[f"channel_{d}"] = channel
            wiring.connect(m, sender.tx, channel.i)
            wiring.connect(m, channel.o, receiver.rx)
            m.d.comb += [
                channel.latency.eq(self.latency), channel.flip_threshold.eq(self.flip_threshold),
                channel.drop_threshold.eq(self.drop_threshold),
                channel.seed.eq(self.channel_seed ^ (0x85EBCA6B * index)),
                channel.start.eq(self.start),
            ]
            for name in CHANNEL_STATS:
                m.d.comb += getattr(self, f"{d}_ch_{name}").eq(getattr(channel, name))
            for name in TX_STATS:
                m.d.comb += getattr(self, f"{d}_tx_{name}").eq(getattr(sender, f"tx_{name}"))
            for name in RX_STATS:
                m.d.comb += getattr(self, f"{d}_rx_{name}").eq(getattr(receiver, f"rx_{name}"))

            checker = LinkProtocolChecker(p)
            m.submodules[f"protocol_{d}"] = checker
            m.d.comb += [checker.credit_limit.eq(self.credit_limit),
                         checker.acked.eq(sender.acked), checker.seq_next.eq(sender.seq_next),
                         checker.commit_valid.eq(receiver.commit_valid),
                         checker.commit_seq.eq(receiver.commit_seq)]
            for v in range(vcs):
                m.d.comb += [checker.sent[v].eq(sender.sent[v]),
                             checker.freed_remote[v].eq(sender.freed_remote[v]),
                             checker.freed[v].eq(receiver.freed[v])]
            for name in PROTOCOL_STATS:
                m.d.comb += getattr(self, f"{d}_proto_{name}").eq(getattr(checker, name))

            enables = self.enable_ab if d == "ab" else self.enable_ba
            for v in range(vcs):
                self._traffic(m, d, index, v, sender, receiver, enables[v],
                              sockets[d[0]], sockets[d[1]])
        return m

    def _traffic(self, m, d, index, v, sender, receiver, enable, src, dest):
        w = self._params.width
        gen, chk = TrafficGenerator(w), TrafficChecker(w)
        m.submodules[f"generator_{d}_vc{v}"] = gen
        m.submodules[f"checker_{d}_vc{v}"] = chk
        seed = Signal(32, name=f"seed_{d}_vc{v}")
        m.d.comb += seed.eq(self.gen_seed + (0x9E3779B9 * (1 + v + 4 * index)) % (1 << 32))
        for unit, stall in ((gen, self.src_stall), (chk, self.snk_stall)):
            m.d.comb += [unit.start.eq(self.start), unit.enable.eq(self.run & enable),
                         unit.packets.eq(self.packets), unit.fixed_length.eq(self.fixed_length),
                         unit.length_mask.eq(self.length_mask), unit.seed.eq(seed),
                         unit.stall_threshold.eq(stall), unit.cycle.eq(self.cycle)]
        m.d.comb += [gen.dest.eq(dest), chk.src.eq(src), chk.dest.eq(dest)]
        if d == "ab":
            with m.If(self.external):
                wiring.connect(m, wiring.flipped(self.ext_send[v]), sender.send[v])
                wiring.connect(m, receiver.recv[v], wiring.flipped(self.ext_recv[v]))
            with m.Else():
                wiring.connect(m, gen.stream, sender.send[v])
                wiring.connect(m, receiver.recv[v], chk.stream)
        else:
            wiring.connect(m, gen.stream, sender.send[v])
            wiring.connect(m, receiver.recv[v], chk.stream)
        for name in CHECKER_STATS:
            port = getattr(self, f"{d}_vc{v}_{name}")
            if name == "sent_words":
                m.d.comb += port.eq(gen.words)
            elif name == "sent_first_cycle_sum":
                m.d.comb += port.eq(gen.first_cycle_sum)
            else:
                m.d.comb += port.eq(getattr(chk, name))


def make_link_harness(**params) -> LinkHarness:
    """Factory for the build cache: ``LinkParams`` fields as keyword arguments."""
    if "buffer_depths" in params:
        params["buffer_depths"] = tuple(params["buffer_depths"])
    return LinkHarness(LinkParams(**params))
