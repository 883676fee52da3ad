"""The system top: ``sockets`` RDUs joined by RDU-to-RDU links (one :class:`SystemParams`).

Each socket is a :class:`~.linked_rdu.LinkedRDU` (tile, its own device memory,
its own host port); every port of the RDU top appears here prefixed
``s<k>_`` (``s0_s_axil_awaddr``, ``s1_busy``, ...). Each link of
:meth:`SystemParams.links` joins two sockets' link nodes through a
:class:`~hdl.link.endpoint.LinkEndpoint` per socket and one
:class:`~hdl.link.channel.PhysicalChannel` per direction: flits for the link are
cut into link words (:class:`~.flit_serializer.FlitSerializer`) on the data VC
and reassembled at the far end (:class:`~.flit_deserializer.FlitDeserializer`);
the other VCs stay idle.

Shared by every socket: the data and index inputs of the memory tiers' backdoors
(``hbm_pl_index``, ``hbm_pl_data``, ``ddr_pl_index``, ``ddr_pl_data``, see
:mod:`memory_ctrl.device`), so that their 8192-bit words appear once, not once per
socket (Amaranth allows at most 65,536 input bits on a top); each socket keeps its own
``s<k>_hbm_pl_en``/``s<k>_ddr_pl_en``, so a preload writes one socket at a time.

Run-time inputs (hold steady, pulse ``link_start`` once after reset to seed the
channels): ``link_flip_threshold`` and ``link_drop_threshold`` (error rates per
flit x 2**32, every channel), ``link_seed`` (channel ``c`` of link ``i``,
``c`` = 0 for a->b, 1 for b->a, draws from ``channel_seed(link_seed, i, c)``).

Outputs: ``s<k>_link_error`` (a received word named the wrong source or
destination socket; sticky) and, per link ``i`` and direction ``ab``/``ba``,
``l<i>_<dir>_<stat>`` for every name in :data:`LINK_STATS` (transmitter,
receiver, channel counters and the protocol checker's violation count).
"""

from amaranth.hdl import Module, Shape
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hdl.link.channel import PhysicalChannel
from hdl.link.endpoint import LinkEndpoint
from hdl.link.protocol_checker import LinkProtocolChecker
from hdl.network.flit import flit_layout
from pcu_pmu.pcu.shared_modules import SharedModules

from .config import SystemParams
from .flit_deserializer import FlitDeserializer
from .flit_serializer import FlitSerializer
from .linked_rdu import LinkedRDU

__all__ = ["SystemTop", "make_system", "LINK_STATS", "SHARED_INPUTS", "channel_seed"]

TX_STATS = ("data_frames", "replays", "timeouts", "naks")
RX_STATS = ("frames_ok", "crc_errors", "framing_errors", "duplicates", "seq_gaps")
CHANNEL_STATS = ("flits", "flips", "drops")
LINK_STATS = (tuple(f"tx_{n}" for n in TX_STATS) + tuple(f"rx_{n}" for n in RX_STATS)
              + tuple(f"ch_{n}" for n in CHANNEL_STATS) + ("violations",))
DIRECTIONS = ("ab", "ba")
#: socket ports that are one top-level input fanned out to every socket
SHARED_INPUTS = ("hbm_pl_index", "hbm_pl_data", "ddr_pl_index", "ddr_pl_data")


def _seed_mix(link: int, direction: int) -> int:
    return (0x9E3779B9 * (1 + 2 * link + direction)) & 0xFFFFFFFF


def channel_seed(link_seed: int, link: int, direction: int) -> int:
    """The xorshift32 seed of one channel (``direction`` 0: a->b, 1: b->a)."""
    return (link_seed ^ _seed_mix(link, direction)) & 0xFFFFFFFF


class SystemTop(wiring.Component):
    """Sockets and links of ``config`` (see module docstring for the ports)."""

    def __init__(self, config: SystemParams):
        if not isinstance(config, SystemParams):
            raise TypeError(f"config must be a SystemParams, not {type(config).__name__}")
        self._config = config
        self._shared = SharedModules()
        self.sockets = [LinkedRDU(config.socket_rdu(k), len(config.neighbours(k)),
                                  self._shared)
                        for k in range(config.sockets)]
        members, shared = {}, {}
        for k, rdu in enumerate(self.sockets):
            for name, member in rdu.signature.members.items():
                if name in SHARED_INPUTS:
                    shared[name] = max(shared.get(name, 0), Shape.cast(member.shape).width)
                else:
                    members[f"s{k}_{name}"] = member
            members[f"s{k}_link_error"] = Out(1)
        members.update({name: In(width) for name, width in shared.items()})
        members.update({"link_flip_threshold": In(32), "link_drop_threshold": In(32),
                        "link_seed": In(32), "link_start": In(1)})
        for i, _ in enumerate(config.links()):
            for d in DIRECTIONS:
                members.update({f"l{i}_{d}_{name}": Out(32) for name in LINK_STATS})
        super().__init__(members)

    @property
    def config(self) -> SystemParams:
        return self._config

    def emit_verilog(self, name: str, reset: str = "sync") -> str:
        """Verilog with each shared PCU submodule defined once for all sockets."""
        return self._shared.emit_verilog(self, name, reset)

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        for k, rdu in enumerate(self.sockets):
            m.submodules[f"socket{k}"] = rdu
            for name, member in rdu.signature.members.items():
                if name in SHARED_INPUTS:
                    m.d.comb += getattr(rdu, name).eq(getattr(self, name))
                    continue
                outer, inner = getattr(self, f"s{k}_{name}"), getattr(rdu, name)
                m.d.comb += (outer.eq(inner) if member.flow == Out else inner.eq(outer))
        link_errors = {k: [] for k in range(cfg.sockets)}
        for i, (a, b) in enumerate(cfg.links()):
            params = cfg.link_params(a, b)
            ends = {a: LinkEndpoint(params, a), b: LinkEndpoint(params, b)}
            m.submodules[f"link{i}_end{a}"], m.submodules[f"link{i}_end{b}"] = ends[a], ends[b]
            for socket, peer in ((a, b), (b, a)):
                error = self._attach(m, f"link{i}_s{socket}", ends[socket], socket, peer, params)
                link_errors[socket].append(error)
            for index, (src, dst) in enumerate(((a, b), (b, a))):
                self._channel(m, i, index, ends[src], ends[dst], params)
        for k, errors in link_errors.items():
            flag = 0
            for error in errors:
                flag = flag | error
            m.d.comb += getattr(self, f"s{k}_link_error").eq(flag)
        return m

    def _attach(self, m, name, end, socket, peer, params):
        """Socket ``socket``'s link node port towards ``peer`` <-> endpoint ``end``."""
        cfg = self._config
        node = self.sockets[socket].link_node
        port = cfg.neighbours(socket).index(peer)
        flit = flit_layout(cfg.socket_rdu(socket).vector_bits)
        m.submodules[f"{name}_serializer"] = ser = FlitSerializer(flit, params.width, peer)
        m.submodules[f"{name}_deserializer"] = des = FlitDeserializer(flit, params.width,
                                                                      peer, socket)
        wiring.connect(m, node.to_link[port], ser.i)
        wiring.connect(m, des.o, node.from_link[port])
        for vc in range(params.vcs):
            if vc == cfg.data_vc:
                wiring.connect(m, ser.o, end.send[vc])
                wiring.connect(m, end.recv[vc], des.i)
            else:
                m.d.comb += [end.send[vc].valid.eq(0), end.recv[vc].ready.eq(1)]
        m.d.comb += [end.credit_limit.eq(cfg.credits), end.timeout.eq(cfg.retry_timeout),
                     end.ctrl_interval.eq(cfg.ctrl_interval), end.refresh.eq(cfg.refresh),
                     end.hold.eq(0)]
        return des.error

    def _channel(self, m, link, index, sender, receiver, params):
        cfg = self._config
        d = DIRECTIONS[index]
        m.submodules[f"link{link}_channel_{d}"] = channel = PhysicalChannel(params)
        m.submodules[f"link{link}_checker_{d}"] = checker = LinkProtocolChecker(params)
        wiring.connect(m, sender.tx, channel.i)
        wiring.connect(m, channel.o, receiver.rx)
        m.d.comb += [
            channel.latency.eq(cfg.latency),
            channel.flip_threshold.eq(self.link_flip_threshold),
            channel.drop_threshold.eq(self.link_drop_threshold),
            channel.seed.eq(self.link_seed ^ _seed_mix(link, index)),
            channel.start.eq(self.link_start),
            checker.credit_limit.eq(cfg.credits), checker.acked.eq(sender.acked),
            checker.seq_next.eq(sender.seq_next), checker.commit_valid.eq(receiver.commit_valid),
            checker.commit_seq.eq(receiver.commit_seq),
        ]
        for v in range(params.vcs):
            m.d.comb += [checker.sent[v].eq(sender.sent[v]),
                         checker.freed_remote[v].eq(sender.freed_remote[v]),
                         checker.freed[v].eq(receiver.freed[v])]
        m.d.comb += getattr(self, f"l{link}_{d}_violations").eq(checker.violations)
        for n in TX_STATS:
            m.d.comb += getattr(self, f"l{link}_{d}_tx_{n}").eq(getattr(sender, f"tx_{n}"))
        for n in RX_STATS:
            m.d.comb += getattr(self, f"l{link}_{d}_rx_{n}").eq(getattr(receiver, f"rx_{n}"))
        for n in CHANNEL_STATS:
            m.d.comb += getattr(self, f"l{link}_{d}_ch_{n}").eq(getattr(channel, n))


def make_system(**params) -> SystemTop:
    """``Design`` factory: ``hdl.system.system:make_system`` with SystemParams JSON fields."""
    return SystemTop(SystemParams.from_json(params))
