"""Static flow-ID routes for :class:`hdl.network.mesh.Mesh`, computed in Python.

Nodes are ``(row, col)``; row 0 is the north edge, col 0 the west edge. Every
switch has a table ``flow -> output-port mask`` (bit ``p`` = port ``p``, see the
``PORT_*`` constants). Routes are dimension-order (XY): first along the row to
the destination's column, then along the column. A multicast flow's routes are
the union of its XY paths, a tree rooted at the source.

``Mesh.cfg`` word format (32 bits):

* bit 31 = 1: clear every entry of every switch's table (other bits ignored).
* bit 31 = 0: write one entry: bits 0-4 port mask, bits 8-15 flow ID,
  bits 16-30 node index ``row * cols + col``.

:func:`route_words` emits a clear word followed by one word per non-zero entry,
so loading a program's routes also removes the previous program's.
"""

__all__ = [
    "PORT_N", "PORT_E", "PORT_S", "PORT_W", "PORT_LOCAL", "PORTS", "PORT_NAMES",
    "CFG_CLEAR", "xy_routes", "route_words", "neighbour",
]

PORT_N, PORT_E, PORT_S, PORT_W, PORT_LOCAL = 0, 1, 2, 3, 4
PORTS = 5
PORT_NAMES = ("N", "E", "S", "W", "L")
CFG_CLEAR = 1 << 31
MAX_FLOWS = 256
MAX_NODES = 1 << 15

# Port p of one switch faces port OPPOSITE[p] of its neighbour.
OPPOSITE = {PORT_N: PORT_S, PORT_S: PORT_N, PORT_E: PORT_W, PORT_W: PORT_E}
_STEP = {PORT_N: (-1, 0), PORT_S: (1, 0), PORT_E: (0, 1), PORT_W: (0, -1)}


def neighbour(node: tuple[int, int], port: int) -> tuple[int, int]:
    """The node on the other side of ``port`` of ``node`` (may be off the mesh)."""
    dr, dc = _STEP[port]
    return node[0] + dr, node[1] + dc


def _check_mesh(rows, cols):
    if not (isinstance(rows, int) and isinstance(cols, int) and rows >= 1 and cols >= 1):
        raise ValueError(f"mesh must be at least 1 x 1, not {rows!r} x {cols!r}")
    if rows * cols > MAX_NODES:
        raise ValueError(f"a {rows} x {cols} mesh has more than {MAX_NODES} nodes")


def _check_node(node, rows, cols, what):
    try:
        r, c = node
    except (TypeError, ValueError):
        raise ValueError(f"{what} {node!r} is not a (row, col) pair") from None
    if not (isinstance(r, int) and isinstance(c, int) and 0 <= r < rows and 0 <= c < cols):
        raise ValueError(f"{what} {node!r} is outside the {rows} x {cols} mesh")
    return r, c


def _xy_path_ports(src, dst):
    """(node, output port) pairs along the XY path from ``src`` to ``dst``, ejection last."""
    (r, c), (dr, dc) = src, dst
    hops = []
    while c != dc:
        port = PORT_E if dc > c else PORT_W
        hops.append(((r, c), port))
        c += 1 if dc > c else -1
    while r != dr:
        port = PORT_S if dr > r else PORT_N
        hops.append(((r, c), port))
        r += 1 if dr > r else -1
    hops.append(((r, c), PORT_LOCAL))
    return hops


def xy_routes(rows: int, cols: int, flows: dict, num_flows: int = 64) -> dict:
    """Per-switch tables ``{(r, c): {flow: port_mask}}`` for ``{flow: (src, [dsts])}``.

    Every node of the mesh has a (possibly empty) table. Duplicate destinations
    are merged. Raises ValueError for a node off the mesh, a flow ID outside
    ``0 .. num_flows - 1`` or an empty destination list.
    """
    _check_mesh(rows, cols)
    if not 1 <= num_flows <= MAX_FLOWS:
        raise ValueError(f"num_flows must be in 1..{MAX_FLOWS}, not {num_flows}")
    tables = {(r, c): {} for r in range(rows) for c in range(cols)}
    for flow, spec in flows.items():
        if not isinstance(flow, int) or not 0 <= flow < num_flows:
            raise ValueError(f"flow ID {flow!r} is out of range 0..{num_flows - 1}")
        try:
            src, dsts = spec
        except (TypeError, ValueError):
            raise ValueError(f"flow {flow}: expected (source, [destinations]), "
                             f"not {spec!r}") from None
        src = _check_node(src, rows, cols, f"flow {flow}: source")
        dsts = list(dsts)
        if not dsts:
            raise ValueError(f"flow {flow}: the destination list is empty")
        for dst in dsts:
            dst = _check_node(dst, rows, cols, f"flow {flow}: destination")
            for node, port in _xy_path_ports(src, dst):
                tables[node][flow] = tables[node].get(flow, 0) | (1 << port)
    return tables


def route_words(tables: dict, rows: int, cols: int) -> list[int]:
    """The ``Mesh.cfg`` words that load ``tables``: a clear word, then each non-zero entry."""
    _check_mesh(rows, cols)
    words = [CFG_CLEAR]
    for node in sorted(tables):
        r, c = _check_node(node, rows, cols, "table node")
        for flow, mask in sorted(tables[node].items()):
            if not 0 <= flow < MAX_FLOWS:
                raise ValueError(f"flow ID {flow} at node {node} does not fit in 8 bits")
            if not 0 <= mask < (1 << PORTS):
                raise ValueError(f"port mask {mask:#x} at node {node} is not a 5-bit mask")
            if mask:
                words.append(mask | (flow << 8) | ((r * cols + c) << 16))
    return words
