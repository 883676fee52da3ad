"""An RDU whose AGCU node has a socket-link port (:class:`~.link_node.LinkNode`).

:class:`LinkedAGCU` is an AGCU with the link node in front of its tile-facing
ports (``cfg_out``, ``vec_out``, ``vec_in``); to the tile it looks exactly like
an AGCU, so the tile's wiring (hdl/tile/tile.py) and the RDU top's
(hdl/rdu/top.py) are reused unchanged: :class:`LinkedRDU` is an
:class:`~hdl.rdu.top.RDUTop` whose tile (``tile_factory``) builds a
:class:`LinkedAGCU` (``agcu_factory``). The link node's ``to_link`` /
``from_link`` ports are reached by the system top directly (Amaranth wires
signals across the hierarchy).
"""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from hdl.agcu.agcu import AGCU
from hdl.rdu.config import RDUParams
from hdl.rdu.top import RDUTop
from hdl.tile.tile import Tile
from pcu_pmu.pcu.shared_modules import SharedModules

from .link_node import LinkNode

__all__ = ["LinkedAGCU", "LinkedRDU"]

_NODE_PORTS = ("cfg_out", "vec_out", "vec_in")


class LinkedAGCU(wiring.Component):
    """An :class:`AGCU` (same signature) whose node traffic passes through ``node``."""

    def __init__(self, node: LinkNode, **agcu_options):
        self._agcu = AGCU(**agcu_options)
        self._node = node
        super().__init__(self._agcu.signature)

    def elaborate(self, platform):
        m = Module()
        m.submodules.agcu = agcu = self._agcu
        m.submodules.link_node = node = self._node
        for name, member in self.signature.members.items():
            if name in _NODE_PORTS:
                continue
            if member.is_port:
                outer, inner = getattr(self, name), getattr(agcu, name)
                m.d.comb += (outer.eq(inner) if member.flow == Out else inner.eq(outer))
            else:
                wiring.connect(m, wiring.flipped(getattr(self, name)), getattr(agcu, name))
        wiring.connect(m, agcu.cfg_out, node.cfg_in)
        wiring.connect(m, node.cfg_out, wiring.flipped(self.cfg_out))
        m.d.comb += node.kernel_running.eq(agcu.kernel_running)
        wiring.connect(m, agcu.vec_out, node.from_agcu)
        wiring.connect(m, node.to_tile, wiring.flipped(self.vec_out))
        wiring.connect(m, wiring.flipped(self.vec_in), node.from_tile)
        wiring.connect(m, node.to_agcu, agcu.vec_in)
        return m


class LinkedRDU(RDUTop):
    """An :class:`RDUTop` (same ports) with a ``ports``-port link node at its AGCU.

    ``link_node`` is the node; ``shared`` the registry its PCUs' shared modules go
    to (one per system, so each module is emitted once).
    """

    def __init__(self, config: RDUParams, ports: int, shared: SharedModules | None = None):
        self.link_node = node = LinkNode(config, ports)

        def linked_tile(tile_config, tile_shared):
            return Tile(tile_config, tile_shared,
                        agcu_factory=lambda **options: LinkedAGCU(node, **options))
        super().__init__(config, tile_factory=linked_tile, shared=shared)
