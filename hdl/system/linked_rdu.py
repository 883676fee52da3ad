"""An RDU whose AGCU node has a socket-link port (:class:`~.link_node.LinkNode`).

:class:`LinkedAGCU` is an AGCU with the link node in front of its tile-facing
ports (``cfg_out``, ``vec_out``, ``vec_in``); to the tile it looks exactly like
an AGCU, so the tile's wiring (hdl/tile/tile.py) and the RDU top's
(hdl/rdu/top.py) are reused unchanged: :class:`LinkedRDU` elaborates an
:class:`~hdl.rdu.top.RDUTop` whose tile builds a :class:`LinkedAGCU` where it
would build an AGCU.

Neither file offers a hook for that, so the substitution rebinds the name the
tile (and the top) look the class up by, for the duration of that one
``elaborate`` call only (:func:`_substituted`). The link node's ``to_link`` /
``from_link`` ports are reached by the system top directly (Amaranth wires
signals across the hierarchy). A constructor argument ``agcu_factory`` on
``Tile`` and ``tile_factory`` on ``RDUTop`` would replace the substitution.
"""

from contextlib import contextmanager

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

import hdl.rdu.top as rdu_top
import hdl.tile.tile as tile_module
from hdl.agcu.agcu import AGCU
from hdl.rdu.config import RDUConfig
from hdl.rdu.top import RDUTop
from hdl.tile.tile import Tile
from pcu_pmu.pcu.shared_modules import SharedModules

from .link_node import LinkNode

__all__ = ["LinkedAGCU", "LinkedTile", "LinkedRDU"]

_NODE_PORTS = ("cfg_out", "vec_out", "vec_in")


@contextmanager
def _substituted(module, name: str, replacement):
    """``module.<name>`` is ``replacement`` inside the block, then what it was."""
    original = getattr(module, name)
    setattr(module, name, replacement)
    try:
        yield
    finally:
        setattr(module, name, original)


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
        wiring.connect(m, agcu.vec_out, node.from_agcu)
        wiring.connect(m, node.to_tile, wiring.flipped(self.vec_out))
        wiring.connect(m, wiring.flipped(self.vec_in), node.from_tile)
        wiring.connect(m, node.to_agcu, agcu.vec_in)
        return m


class LinkedTile(Tile):
    """A :class:`Tile` whose AGCU is a :class:`LinkedAGCU` around ``node``."""

    def __init__(self, config: RDUConfig, shared: SharedModules, node: LinkNode):
        super().__init__(config, shared)
        self._node = node

    def elaborate(self, platform):
        def linked_agcu(**options):
            return LinkedAGCU(self._node, **options)
        with _substituted(tile_module, "AGCU", linked_agcu):
            return super().elaborate(platform)


class LinkedRDU(RDUTop):
    """An :class:`RDUTop` (same ports) with a ``ports``-port link node at its AGCU.

    ``link_node`` is the node; ``shared`` the registry its PCUs' shared modules go
    to (one per system, so each module is emitted once).
    """

    def __init__(self, config: RDUConfig, ports: int, shared: SharedModules | None = None):
        super().__init__(config)
        self.link_node = LinkNode(config, ports)
        self._system_shared = shared if shared is not None else SharedModules()

    def emit_verilog(self, name: str) -> str:
        return self._system_shared.emit_verilog(self, name)

    def elaborate(self, platform):
        def linked_tile(config, _shared=None):
            return LinkedTile(config, self._system_shared, self.link_node)
        with _substituted(rdu_top, "Tile", linked_tile):
            return super().elaborate(platform)
