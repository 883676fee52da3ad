"""Spatial placement: the units of one kernel's chain on the tile's mesh.

A kernel is a chain AGCU -> unit 0 -> unit 1 -> ... -> AGCU, flow ``i`` from unit
``i - 1`` to unit ``i`` (:meth:`~.kernels.common.KernelContext.route`); the network
routes every flow X first, then Y. :func:`place_chain` gives each position of the
chain, in order, the free unit of the kind it needs that is nearest (mesh hops) to
the unit before it, the first one nearest to the AGCU, ties to the lower unit index:
a stage's consumer sits next to its producer, so most flows take one hop.
"""

from hdl.rdu.config import RDUParams

__all__ = ["place_chain", "chain_hops"]


def _hops(a: tuple, b: tuple) -> int:
    return abs(a[0] - b[0]) + abs(a[1] - b[1])


def place_chain(config: RDUParams, kinds) -> list[int] | None:
    """Unit indices for a chain of unit ``kinds`` (``UnitKind`` values) on ``config``'s
    tile, or None if it has too few units of a kind."""
    units = config.units()
    free = set(range(len(units)))
    node, chain = config.AGCU_NODE, []
    for kind in kinds:
        fits = [i for i in sorted(free) if units[i][0] == kind]
        if not fits:
            return None
        best = min(fits, key=lambda i: (_hops(node, units[i][1]), i))
        free.remove(best)
        chain.append(best)
        node = units[best][1]
    return chain


def chain_hops(config: RDUParams, chain) -> int:
    """Mesh hops of every flow of a chain of units, AGCU to AGCU."""
    nodes = [config.AGCU_NODE, *(config.units()[i][1] for i in chain), config.AGCU_NODE]
    return sum(_hops(a, b) for a, b in zip(nodes, nodes[1:], strict=False))
