"""The AGCU node's socket-link port: which flits leave for other sockets, which arrive.

Sits between the AGCU and the rest of its tile node (see
:class:`~.linked_rdu.LinkedAGCU`), with ``ports`` link ports (port ``p`` leads to
the ``p``-th neighbour of the socket, :meth:`SystemParams.neighbours`):

* out to a link: a flit of a flow the program routes to a link, whether the AGCU
  sends it (a READ stream, straight from ``from_agcu``: it never enters the mesh)
  or it reaches the AGCU's node through the mesh (a unit's output, from
  ``from_tile``), leaves on ``to_link[port]`` renamed to the flow id it has in the
  other socket. Every other flit goes where it went before: ``from_agcu`` into
  the tile, ``from_tile`` to the AGCU (memory).
* in from a link: flits from ``from_link[p]`` enter the tile (``to_tile``) exactly
  as if the AGCU had sent them, merged round-robin with the AGCU's own flits; the
  receiving program routes their flow ids to its units.
* taking (what lets a socket run collectives from its own schedule, with no host
  barrier between sockets): a program states how many link flits it takes into the
  tile, or that it takes every one, and it takes them only while its kernel runs
  (``kernel_running``, from the AGCU: the link record comes first in a program, so
  the units are still being configured when it is taken). Flits beyond the count
  wait in the links (their credits hold the sender) until a program that takes them
  runs, so a neighbour that runs ahead never reaches a program that does not expect
  it. After reset a socket takes none.
* pairing (for an element-wise op on a received tensor and a local one): with
  pairing on, a flit of the local flow (from the AGCU) and a flit of the link flow
  (from any link port) enter the tile strictly alternately, local first, so a PCU
  that accumulates pairs of vectors (FACC over an innermost loop of 2) adds
  ``local[i] + received[i]``. Other flows pass freely, but a local flit waiting
  for its partner holds up the AGCU's flits behind it: a kernel that pairs must
  not also send on a link whose traffic it depends on (testbench/system/allreduce.py
  separates sending and pairing in a ring for that reason).

Configuration: a Program Load record for target ``target`` (the first index after
the tile's own targets, :func:`link_target`) is taken here and never reaches the
tile's distributor; every other record passes through unchanged. Its payload is
``flows + 1`` words (:func:`link_record_words`), or only the last of them when the
program routes no flow to a link (every route cleared: most programs, so their
Program Load is ``flows`` words shorter):

* word ``f`` (flow ``f``): bit 31 routed to a link, bits 10-8 port, bits 5-0 the
  flow id on the far side;
* word ``flows``: bit 31 pairing on, bits 5-0 local flow, bits 13-8 link flow;
  bit 30 take every link flit, else bits 29-16 the number of link flits the program
  takes (:data:`MAX_TAKE` at most).

Every program should write it (a record of all zeros when it uses no link: it takes
nothing), so no route outlives its program; writing it also restarts the pairing
with a local flit.
"""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.network.arbiter import RoundRobinArbiter
from hdl.network.flit import flit_layout
from hdl.rdu.config import RDUParams
from hdl.tile.config_distributor import COUNT_BITS, MARKER, TARGET_BITS, record_header
from hdl.tile.flit_merge import FlitMerge
from hdl.tile.targets import config_targets

__all__ = ["LinkNode", "link_target", "link_record_words", "MAX_PORTS", "MAX_TAKE"]

MAX_PORTS = 8
_PORT_BITS = 3
_FLOW_BITS = 6
_ENTRY_BITS = 1 + _PORT_BITS + _FLOW_BITS
_TAKE_BITS = 14
MAX_TAKE = (1 << _TAKE_BITS) - 1


def link_target(config: RDUParams) -> int:
    """The Program Load target of the link port of a tile of ``config``."""
    return len(config_targets(config))


def link_record_words(config: RDUParams, routes: dict, pair=None, take=0) -> list[int]:
    """The whole link record (header included) for a tile of ``config``.

    ``routes``: ``{flow: (port, far_flow)}``; ``pair``: ``(local_flow, link_flow)``
    or None; ``take``: how many link flits the program takes into the tile (None:
    every one). Ports and flows are range-checked here; whether the port exists in a
    system is :meth:`SystemParams.port_to`'s question.
    """
    if take is not None and (not isinstance(take, int) or not 0 <= take <= MAX_TAKE):
        raise ValueError(f"a program takes 0..{MAX_TAKE} link flits (or None: every one), "
                         f"not {take!r}")
    flows = config.flows
    words = [0] * (flows + 1)
    for flow, (port, far_flow) in routes.items():
        for name, value, limit in (("flow", flow, flows), ("far flow", far_flow, flows),
                                   ("port", port, MAX_PORTS)):
            if not isinstance(value, int) or not 0 <= value < limit:
                raise ValueError(f"link route of flow {flow}: {name} {value!r} is outside "
                                 f"0..{limit - 1}")
        words[flow] = 1 << 31 | port << 8 | far_flow
    if pair is not None:
        local, link = pair
        for value in (local, link):
            if not isinstance(value, int) or not 0 <= value < flows:
                raise ValueError(f"pairing flow {value!r} is outside 0..{flows - 1}")
        if local == link:
            raise ValueError(f"pairing needs two different flows, not {local} twice")
        words[flows] = 1 << 31 | link << 8 | local
    words[flows] |= 1 << 30 if take is None else take << 16
    if not routes:
        words = words[flows:]   # the short record: every route cleared
    return [record_header(link_target(config), len(words)), *words]


class LinkNode(wiring.Component):
    """Routes the AGCU node's flits between the AGCU, the tile and ``ports`` links."""

    def __init__(self, config: RDUParams, ports: int):
        if not 0 <= ports <= MAX_PORTS:
            raise ValueError(f"a link node has 0..{MAX_PORTS} ports, not {ports}")
        self._config = config
        self._ports = ports
        self._target = link_target(config)
        flit = flit_layout(config.vector_bits)
        members = {
            "cfg_in": In(stream.Signature(32)), "cfg_out": Out(stream.Signature(32)),
            "from_agcu": In(stream.Signature(flit)), "to_tile": Out(stream.Signature(flit)),
            "from_tile": In(stream.Signature(flit)), "to_agcu": Out(stream.Signature(flit)),
            "kernel_running": In(1),
        }
        if ports:
            members["to_link"] = Out(stream.Signature(flit)).array(ports)
            members["from_link"] = In(stream.Signature(flit)).array(ports)
        super().__init__(members)

    @property
    def ports(self) -> int:
        return self._ports

    def elaborate(self, platform):
        m = Module()
        flows = self._config.flows
        index_bits = max(1, (flows - 1).bit_length())
        table = Signal(flows * _ENTRY_BITS)
        pair_on = Signal()
        pair_local = Signal(_FLOW_BITS)
        pair_link = Signal(_FLOW_BITS)
        local_next = Signal(init=1)   # pairing: the next paired flit is the local one
        take_all = Signal()           # after reset a socket takes no link flit
        take_left = Signal(_TAKE_BITS)
        take_written = Signal()       # a record sets the count this cycle (it wins)

        def route(flit):
            entry = table.word_select(flit.flow[:index_bits], _ENTRY_BITS)
            return entry[0], entry[1:1 + _PORT_BITS], entry[1 + _PORT_BITS:]

        self._configuration(m, table, pair_on, pair_local, pair_link, local_next, take_all,
                            take_left, take_written)

        # -- out to the links ----------------------------------------------------------
        agcu_routed, agcu_port, _ = route(self.from_agcu.payload)
        tile_routed, tile_port, _ = route(self.from_tile.payload)
        merges = []
        for p in range(self._ports):
            merge = FlitMerge(flit_layout(self._config.vector_bits))
            m.submodules[f"port{p}_merge"] = merge
            merges.append(merge)
            m.d.comb += [
                merge.a.payload.eq(self.from_agcu.payload),
                merge.a.valid.eq(self.from_agcu.valid & agcu_routed & (agcu_port == p)),
                merge.b.payload.eq(self.from_tile.payload),
                merge.b.valid.eq(self.from_tile.valid & tile_routed & (tile_port == p)),
            ]
            out = self.to_link[p]
            _, _, far_flow = route(merge.o.payload)
            m.d.comb += [out.payload.eq(merge.o.payload), out.payload.flow.eq(far_flow),
                         out.valid.eq(merge.o.valid), merge.o.ready.eq(out.ready)]
        agcu_link_ready = Signal()
        tile_link_ready = Signal()
        for p, merge in enumerate(merges):
            with m.If(agcu_port == p):
                m.d.comb += agcu_link_ready.eq(merge.a.ready)
            with m.If(tile_port == p):
                m.d.comb += tile_link_ready.eq(merge.b.ready)
        m.d.comb += [
            self.to_agcu.payload.eq(self.from_tile.payload),
            self.to_agcu.valid.eq(self.from_tile.valid & ~tile_routed),
            self.from_tile.ready.eq(Mux(tile_routed, tile_link_ready, self.to_agcu.ready)),
        ]

        # -- into the tile: the AGCU's other flits and every received flit ------------
        sources = [self.from_agcu] + [self.from_link[p] for p in range(self._ports)]
        m.submodules.arbiter = arbiter = RoundRobinArbiter(len(sources))
        paired = []
        for k, source in enumerate(sources):
            flow = source.payload.flow
            if k == 0:
                is_paired = pair_on & (flow == pair_local)
                allowed = ~agcu_routed & (~is_paired | local_next)
            else:
                is_paired = pair_on & (flow == pair_link)
                allowed = ((~is_paired | ~local_next) & self.kernel_running
                           & (take_all | (take_left != 0)))
            paired.append(is_paired)
            m.d.comb += arbiter.request[k].eq(source.valid & allowed)
        m.d.comb += [arbiter.advance.eq(self.to_tile.ready),
                     self.to_tile.valid.eq(arbiter.grant.any())]
        for k, source in enumerate(sources):
            ready = arbiter.grant[k] & self.to_tile.ready
            with m.If(arbiter.grant[k]):
                m.d.comb += self.to_tile.payload.eq(source.payload)
            if k == 0:
                m.d.comb += self.from_agcu.ready.eq(Mux(agcu_routed, agcu_link_ready, ready))
            else:
                m.d.comb += source.ready.eq(ready)
            with m.If(ready & source.valid & paired[k]):
                m.d.sync += local_next.eq(int(k != 0))
        taken = self.to_tile.ready & arbiter.grant[1:].any()   # a link flit enters the tile
        with m.If(taken & ~take_all & ~take_written):
            m.d.sync += take_left.eq(take_left - 1)
        return m

    def _configuration(self, m, table, pair_on, pair_local, pair_link, local_next, take_all,
                       take_left, take_written):
        """Take link records off ``cfg_in``; pass every other record to ``cfg_out``."""
        flows = self._config.flows
        left = Signal(COUNT_BITS)
        mine = Signal()
        index = Signal(COUNT_BITS)
        word = self.cfg_in.payload
        marker_ok = word[24:] == MARKER
        target = word[:TARGET_BITS]
        count = word[TARGET_BITS:TARGET_BITS + COUNT_BITS]
        forward = [self.cfg_out.payload.eq(word), self.cfg_out.valid.eq(self.cfg_in.valid),
                   self.cfg_in.ready.eq(self.cfg_out.ready)]
        passed = self.cfg_out.valid & self.cfg_out.ready
        with m.If(left == 0):
            with m.If(marker_ok & (target == self._target)):
                m.d.comb += self.cfg_in.ready.eq(1)
                with m.If(self.cfg_in.valid):
                    m.d.sync += [left.eq(count), mine.eq(1), index.eq(0)]
                    with m.If(count == 1):   # the short record: its one word is the last
                        m.d.sync += [index.eq(flows), table.eq(0)]
            with m.Else():
                m.d.comb += forward
                with m.If(passed):
                    # A header the distributor will refuse is followed by another header.
                    m.d.sync += [left.eq(Mux(marker_ok & (target < self._target), count, 0)),
                                 mine.eq(0)]
        with m.Elif(mine):
            m.d.comb += self.cfg_in.ready.eq(1)
            with m.If(self.cfg_in.valid):
                m.d.sync += [left.eq(left - 1), index.eq(index + 1), local_next.eq(1)]
                with m.If(index < flows):
                    entry = Cat(word[31], word[8:8 + _PORT_BITS], word[:_FLOW_BITS])
                    m.d.sync += table.word_select(index[:max(1, (flows - 1).bit_length())],
                                                  _ENTRY_BITS).eq(entry)
                with m.Elif(index == flows):
                    m.d.comb += take_written.eq(1)
                    m.d.sync += [pair_on.eq(word[31]), pair_local.eq(word[:_FLOW_BITS]),
                                 pair_link.eq(word[8:8 + _FLOW_BITS]), take_all.eq(word[30]),
                                 take_left.eq(word[16:16 + _TAKE_BITS])]
        with m.Else():
            m.d.comb += forward
            with m.If(passed):
                m.d.sync += left.eq(left - 1)
