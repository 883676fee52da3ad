"""One description of a multi-socket RDU system, checked before any simulation.

A :class:`SystemParams` fixes the sockets (each an RDU of ``rdu``: one
:class:`~hdl.rdu.config.RDUParams` for every socket, or a tuple of one per socket;
linked sockets must have the same vector width), the links between them
(``topology``: ``"ring"``, ``"full"`` or an explicit tuple of socket pairs), the
links' structure (``link_width``, ``buffer_depths`` per VC, ``max_payload``,
``replay_depth``, ``window``, ``max_latency``: the fields of
:class:`hdl.link.params.LinkParams`), the run-time settings of every endpoint
(``credits`` words on the data VC, retry ``timeout``, ``ctrl_interval``,
``refresh``) and the channel ``latency``. A description that cannot work is a
:class:`SystemConfigError` naming the problem: a link or route to a socket that
does not exist, zero credits, more credits than the receive buffer, a data
virtual channel with no buffer, a topology that does not connect the sockets.

Ports: socket ``s``'s link port ``p`` leads to ``neighbours(s)[p]``, the sockets
linked to ``s`` in :meth:`SystemParams.links` order.
"""

from collections import deque
from dataclasses import asdict, dataclass, fields

from hdl.link.params import LinkParams
from hdl.rdu.config import PRESETS, RDUParams

__all__ = ["SystemParams", "SystemConfigError", "TOPOLOGIES", "MAX_SOCKETS"]

TOPOLOGIES = ("ring", "full")
MAX_SOCKETS = 8


class SystemConfigError(ValueError):
    """A system description that cannot work; the message names the part."""


@dataclass(frozen=True)
class SystemParams:
    """Sockets, topology, link structure and settings, and the RDU of every socket."""

    sockets: int = 2
    topology: object = "ring"
    rdu: object = PRESETS["small"]
    # link structure (LinkParams)
    link_width: int = 32
    buffer_depths: tuple = (64,)
    max_payload: int = 16
    replay_depth: int = 64
    window: int = 16
    max_latency: int = 64
    # link settings
    data_vc: int = 0
    credits: int = 32
    latency: int = 4
    ctrl_interval: int = 16
    refresh: int = 256
    timeout: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "rdu", _rdu_configs(self.rdu))
        object.__setattr__(self, "buffer_depths", tuple(self.buffer_depths))
        if not isinstance(self.topology, str):
            object.__setattr__(self, "topology", tuple(tuple(p) for p in self.topology))
        if not isinstance(self.sockets, int) or not 1 <= self.sockets <= MAX_SOCKETS:
            raise SystemConfigError(f"sockets must be an int from 1 to {MAX_SOCKETS}, "
                                    f"not {self.sockets!r}")
        if not isinstance(self.rdu, RDUParams) and len(self.rdu) != self.sockets:
            raise SystemConfigError(f"rdu lists {len(self.rdu)} RDU configurations for "
                                    f"{self.sockets} sockets")
        self._check_links()
        for a, b in self.links():
            if self.socket_rdu(a).lanes != self.socket_rdu(b).lanes:
                raise SystemConfigError(
                    f"sockets {a} and {b} are linked but their vectors differ "
                    f"({self.socket_rdu(a).lanes} and {self.socket_rdu(b).lanes} lanes): a "
                    f"link carries one flit format")
        if self.sockets > 1:
            self._check_link_settings()

    # -- checks ---------------------------------------------------------------------------
    def _check_links(self):
        links = self.links()
        seen = set()
        for a, b in links:
            for socket in (a, b):
                if not isinstance(socket, int) or not 0 <= socket < self.sockets:
                    raise SystemConfigError(f"link {a}-{b} names socket {socket!r}, which "
                                            f"does not exist (sockets 0..{self.sockets - 1})")
            if a == b:
                raise SystemConfigError(f"link {a}-{b} joins a socket to itself")
            if frozenset((a, b)) in seen:
                raise SystemConfigError(f"sockets {a} and {b} are linked twice")
            seen.add(frozenset((a, b)))
        reached = {0}
        todo = deque([0])
        while todo:
            socket = todo.popleft()
            for neighbour in self.neighbours(socket):
                if neighbour not in reached:
                    reached.add(neighbour)
                    todo.append(neighbour)
        missing = sorted(set(range(self.sockets)) - reached)
        if missing:
            raise SystemConfigError(f"the topology does not connect the sockets: "
                                    f"{', '.join(map(str, missing))} cannot be reached from "
                                    f"socket 0")

    def _check_link_settings(self):
        try:
            params = self.link_params(0, 1)
        except ValueError as error:
            raise SystemConfigError(f"link: {error}") from None
        if not isinstance(self.data_vc, int) or not 0 <= self.data_vc < params.vcs:
            raise SystemConfigError(f"data_vc {self.data_vc!r} is not a virtual channel of "
                                    f"the link (VCs 0..{params.vcs - 1})")
        depth = params.buffer_depths[self.data_vc]
        if not isinstance(self.credits, int) or self.credits <= 0:
            raise SystemConfigError(f"credits must be positive: with {self.credits} credits "
                                    f"no word could ever cross a link")
        if self.credits > depth:
            raise SystemConfigError(f"{self.credits} credits exceed the receive buffer of "
                                    f"the data VC {self.data_vc} ({depth} words)")
        if not 1 <= self.latency <= self.max_latency:
            raise SystemConfigError(f"latency {self.latency} is outside 1..{self.max_latency}"
                                    f" cycles (max_latency)")
        if not 1 <= self.ctrl_interval <= 255 or not 1 <= self.refresh < 1 << 16:
            raise SystemConfigError("ctrl_interval must be 1..255 and refresh 1..65535 cycles")
        least = 2 * self.latency + 2 * (self.max_payload + 2) + params.vcs + 2
        if not least <= self.retry_timeout < 1 << 16:
            raise SystemConfigError(f"timeout {self.retry_timeout} must be at least the round "
                                    f"trip of a largest frame ({least} cycles) and below 65536")

    # -- derived --------------------------------------------------------------------------
    def socket_rdu(self, socket: int) -> RDUParams:
        """The RDU configuration of socket ``socket``."""
        return self.rdu if isinstance(self.rdu, RDUParams) else self.rdu[socket]

    def links(self) -> list[tuple[int, int]]:
        """Every link as (socket a, socket b); the channel ``ab`` runs from a to b."""
        n = self.sockets
        if self.topology == "ring":
            if n == 1:
                return []
            if n == 2:
                return [(0, 1)]
            return [(k, (k + 1) % n) for k in range(n)]
        if self.topology == "full":
            return [(a, b) for a in range(n) for b in range(a + 1, n)]
        if isinstance(self.topology, str):
            raise SystemConfigError(f"topology must be one of {', '.join(TOPOLOGIES)} or a "
                                    f"tuple of (socket, socket) links, not {self.topology!r}")
        links = []
        for link in self.topology:
            if len(link) != 2:
                raise SystemConfigError(f"a link joins two sockets, not {link!r}")
            links.append((link[0], link[1]))
        return links

    def neighbours(self, socket: int) -> list[int]:
        """The sockets linked to ``socket``, in port order."""
        return [b if a == socket else a for a, b in self.links() if socket in (a, b)]

    def port_to(self, socket: int, dest: int) -> int:
        """The port of ``socket`` whose link leads to ``dest``; a clear error otherwise."""
        for name, value in (("socket", socket), ("destination socket", dest)):
            if not isinstance(value, int) or not 0 <= value < self.sockets:
                raise SystemConfigError(f"route from socket {socket} to socket {dest}: "
                                        f"{name} {value!r} does not exist (sockets "
                                        f"0..{self.sockets - 1})")
        if dest == socket:
            raise SystemConfigError(f"route from socket {socket} to itself: a link joins "
                                    f"two different sockets")
        neighbours = self.neighbours(socket)
        if dest not in neighbours:
            raise SystemConfigError(f"route from socket {socket} to socket {dest}: no link "
                                    f"joins them (socket {socket} is linked to "
                                    f"{', '.join(map(str, neighbours)) or 'nothing'}; "
                                    f"routes are one hop)")
        return neighbours.index(dest)

    def link_params(self, a: int, b: int) -> LinkParams:
        """The :class:`LinkParams` of the link between sockets ``a`` and ``b``."""
        return LinkParams(width=self.link_width, buffer_depths=self.buffer_depths,
                          max_payload=self.max_payload, replay_depth=self.replay_depth,
                          window=self.window, max_latency=self.max_latency,
                          sockets=max(2, self.sockets), socket_a=a, socket_b=b)

    @property
    def retry_timeout(self) -> int:
        """``timeout``, or twice a modelled credit round trip of a largest frame plus slack."""
        if self.timeout is not None:
            return self.timeout
        frame = self.max_payload + 2
        vcs = len(self.buffer_depths)
        round_trip = 2 * self.latency + 2 * frame + vcs + 2 + self.ctrl_interval // 2 + 4
        return 2 * round_trip + self.ctrl_interval + 64

    def to_json(self) -> dict:
        data = asdict(self)
        data["rdu"] = (self.rdu.to_json() if isinstance(self.rdu, RDUParams)
                       else [rdu.to_json() for rdu in self.rdu])
        data["buffer_depths"] = list(self.buffer_depths)
        if not isinstance(self.topology, str):
            data["topology"] = [list(link) for link in self.topology]
        return data

    @classmethod
    def from_json(cls, data: dict) -> "SystemParams":
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise SystemConfigError(f"unknown system parameter(s) {', '.join(unknown)}; "
                                    f"parameters: {', '.join(sorted(names))}")
        return cls(**data)


def _rdu_configs(rdu):
    """One RDUParams, or a tuple of them, from configs or their JSON dicts."""
    if isinstance(rdu, dict):
        return RDUParams(**rdu)
    if isinstance(rdu, RDUParams):
        return rdu
    if isinstance(rdu, str):
        return _bad(rdu)
    try:
        return tuple(_rdu_configs(item) if isinstance(item, dict | RDUParams) else _bad(item)
                     for item in rdu)
    except TypeError:
        return _bad(rdu)


def _bad(rdu):
    raise SystemConfigError(f"rdu must be an RDUParams or one per socket, not {rdu!r}")
