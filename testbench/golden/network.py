"""Reference model of the on-chip network: flit packing, route walking, expected deliveries.

A flit travels as one integer: ``data`` from bit 0, then ``flow``, ``seq``,
``last`` (the order of :func:`hdl.network.flit.flit_layout`). The mesh's
contract is that every flit of flow F injected at F's source reaches each of
F's destinations exactly once, unchanged, in injection order per flow.
"""

from dataclasses import dataclass

from hdl.network.routes import OPPOSITE, PORT_LOCAL, PORT_NAMES, PORTS, neighbour

__all__ = ["FlitFormat", "walk_routes", "expected_deliveries", "random_flows", "broadcast_flows",
           "random_traffic", "window_permutation"]


@dataclass(frozen=True)
class FlitFormat:
    """Field widths of a flit; packs and unpacks the integer form."""

    data_width: int
    flow_bits: int = 6
    seq_bits: int = 8

    @property
    def width(self) -> int:
        return self.data_width + self.flow_bits + self.seq_bits + 1

    def pack(self, data: int, flow: int, seq: int, last: int) -> int:
        for name, value, bits in (("data", data, self.data_width), ("flow", flow, self.flow_bits),
                                  ("seq", seq, self.seq_bits), ("last", last, 1)):
            if not 0 <= value < (1 << bits):
                raise ValueError(f"{name} {value} does not fit in {bits} bits")
        shift = self.data_width
        return (data | (flow << shift) | (seq << (shift + self.flow_bits))
                | (last << (shift + self.flow_bits + self.seq_bits)))

    def unpack(self, flit: int) -> tuple[int, int, int, int]:
        """(data, flow, seq, last)"""
        d, f, s = self.data_width, self.flow_bits, self.seq_bits
        return (flit & ((1 << d) - 1), (flit >> d) & ((1 << f) - 1),
                (flit >> (d + f)) & ((1 << s) - 1), (flit >> (d + f + s)) & 1)

    def describe(self, flit: int) -> str:
        data, flow, seq, last = self.unpack(flit)
        return f"flow {flow} seq {seq} last {last} data {data:#x}"


def walk_routes(tables: dict, rows: int, cols: int, flow: int, src) -> dict:
    """Follow ``flow``'s table entries from ``src``; return ``{node: times delivered}``.

    Raises ValueError if a route leaves the mesh, turns back on the link it came
    from, or visits a switch twice (a loop or two branches merging).
    """
    deliveries = {}
    visited = set()
    frontier = [(tuple(src), None)]
    while frontier:
        node, came_from = frontier.pop()
        if node in visited:
            raise ValueError(f"flow {flow} reaches switch {node} twice")
        visited.add(node)
        mask = tables.get(node, {}).get(flow, 0)
        if not mask:
            raise ValueError(f"flow {flow} has no route at switch {node}")
        for port in range(PORTS):
            if not mask >> port & 1:
                continue
            if port == PORT_LOCAL:
                deliveries[node] = deliveries.get(node, 0) + 1
                continue
            if port == came_from:
                raise ValueError(f"flow {flow} turns back through port "
                                 f"{PORT_NAMES[port]} at {node}")
            nxt = neighbour(node, port)
            if not (0 <= nxt[0] < rows and 0 <= nxt[1] < cols):
                raise ValueError(f"flow {flow} leaves the mesh through port "
                                 f"{PORT_NAMES[port]} of {node}")
            frontier.append((nxt, OPPOSITE[port]))
    return deliveries


def expected_deliveries(flows: dict, traffic: dict, fmt: FlitFormat) -> dict:
    """``{dst: {flow: [flits in order]}}`` for ``traffic = {src: [flits in injection order]}``.

    ``flows`` is ``{flow: (src, [dsts])}``; a flit injected at a node other than
    its flow's source is an error in the test, not the network.
    """
    out = {}
    for src, flits in traffic.items():
        for flit in flits:
            flow = fmt.unpack(flit)[1]
            flow_src, dsts = flows[flow]
            if tuple(flow_src) != tuple(src):
                raise ValueError(f"flit of flow {flow} injected at {src}, "
                                 f"but the flow starts at {flow_src}")
            for dst in dict.fromkeys(tuple(d) for d in dsts):
                out.setdefault(dst, {}).setdefault(flow, []).append(flit)
    return out


def random_flows(rng, rows: int, cols: int, num_flows: int, multicasts: int) -> dict:
    """One unicast flow per (source, destination) pair, itself included, plus
    ``multicasts`` flows from random sources to random sets of >= 2 nodes (the
    first a broadcast to every node); flow IDs are a random sample of ``num_flows``."""
    nodes = [(r, c) for r in range(rows) for c in range(cols)]
    specs = [(s, [d]) for s in nodes for d in nodes]
    for k in range(multicasts):
        src = nodes[rng.randrange(len(nodes))]
        if k == 0 or len(nodes) == 2:
            dsts = list(nodes)
        else:
            dsts = rng.sample(nodes, rng.randrange(2, len(nodes) + 1))
        specs.append((src, dsts))
    if len(specs) > num_flows:
        raise ValueError(f"{len(specs)} flows do not fit in {num_flows} flow IDs")
    ids = rng.sample(range(num_flows), len(specs))
    return dict(zip(ids, specs, strict=True))


def broadcast_flows(rng, rows: int, cols: int, num_flows: int) -> dict:
    """One flow per node broadcasting to every node (itself included); random flow IDs."""
    nodes = [(r, c) for r in range(rows) for c in range(cols)]
    if len(nodes) > num_flows:
        raise ValueError(f"{len(nodes)} flows do not fit in {num_flows} flow IDs")
    ids = rng.sample(range(num_flows), len(nodes))
    return {flow: (src, list(nodes)) for flow, src in zip(ids, nodes, strict=True)}


def random_traffic(rng, flows: dict, per_source: int, fmt: FlitFormat) -> dict:
    """``{src: [flits]}``: ``per_source`` flits per node, each of a random flow from it,
    with random data, ``seq`` counting per flow (mod 2**seq_bits) and random ``last``."""
    by_source = {}
    for flow, (src, _) in flows.items():
        by_source.setdefault(tuple(src), []).append(flow)
    seq = dict.fromkeys(flows, 0)
    traffic = {}
    for src, own in sorted(by_source.items()):
        flits = []
        for _ in range(per_source):
            flow = own[rng.randrange(len(own))]
            flits.append(fmt.pack(rng.getrandbits(fmt.data_width), flow, seq[flow],
                                  int(rng.random() < 0.2)))
            seq[flow] = (seq[flow] + 1) % (1 << fmt.seq_bits)
        traffic[src] = flits
    return traffic


def window_permutation(rng, count: int, window: int) -> list[int]:
    """A random order of ``0 .. count-1`` in which each number arrives less than
    ``window`` places ahead of the lowest one not yet arrived."""
    order, pending, nxt = [], set(), 0
    while len(order) < count:
        low = min(pending) if pending else nxt
        while nxt < count and nxt < low + window:
            pending.add(nxt)
            nxt += 1
        pick = rng.choice(sorted(pending))
        pending.remove(pick)
        order.append(pick)
    return order
