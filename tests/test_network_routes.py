"""Routes for the mesh (pure Python): XY paths, multicast trees, cfg words, clear errors."""

import random

import pytest

from hdl.network.control import control_words
from hdl.network.routes import (
    CFG_CLEAR,
    PORT_E,
    PORT_LOCAL,
    PORT_N,
    PORT_S,
    PORT_W,
    route_words,
    xy_routes,
)
from testbench.golden.network import random_flows, walk_routes, window_permutation

SEEDS = [1, 2, 3]


def _path(tables, rows, cols, flow, src):
    """Nodes a unicast flow passes through, source first, following the tables."""
    steps = {PORT_N: (-1, 0), PORT_S: (1, 0), PORT_E: (0, 1), PORT_W: (0, -1)}
    node, path = src, [src]
    while True:
        mask = tables[node][flow]
        assert bin(mask).count("1") == 1, f"unicast flow {flow} forks at {node}: {mask:#b}"
        port = mask.bit_length() - 1
        if port == PORT_LOCAL:
            return path
        node = (node[0] + steps[port][0], node[1] + steps[port][1])
        path.append(node)
        assert len(path) <= rows * cols, "route loops"


def test_unicast_goes_x_first_then_y():
    tables = xy_routes(3, 4, {5: ((2, 3), [(0, 0)])})
    assert _path(tables, 3, 4, 5, (2, 3)) == [(2, 3), (2, 2), (2, 1), (2, 0), (1, 0), (0, 0)]
    assert tables[(2, 3)][5] == 1 << PORT_W
    assert tables[(2, 0)][5] == 1 << PORT_N
    assert tables[(0, 0)][5] == 1 << PORT_LOCAL
    assert all(5 not in tables[n] for n in [(0, 1), (1, 1), (1, 3), (0, 3)])


def test_self_route_is_local():
    tables = xy_routes(2, 2, {0: ((1, 1), [(1, 1)])})
    assert tables[(1, 1)] == {0: 1 << PORT_LOCAL}
    assert sum(len(t) for t in tables.values()) == 1


@pytest.mark.parametrize("rows,cols", [(2, 2), (2, 3), (3, 3), (3, 5)])
def test_every_unicast_path_is_minimal(rows, cols):
    nodes = [(r, c) for r in range(rows) for c in range(cols)]
    flows = {i: (s, [d]) for i, (s, d) in enumerate((s, d) for s in nodes for d in nodes)}
    tables = xy_routes(rows, cols, flows, num_flows=256)
    for flow, (src, (dst,)) in flows.items():
        path = _path(tables, rows, cols, flow, src)
        assert path[-1] == dst
        assert len(path) - 1 == abs(src[0] - dst[0]) + abs(src[1] - dst[1])
        # XY: the column is fixed before the row changes
        turn = next((i for i, n in enumerate(path) if n[1] == dst[1]), None)
        assert all(n[0] == src[0] for n in path[:turn + 1])


def test_multicast_is_a_tree_reaching_every_member_once():
    for seed in SEEDS:
        rng = random.Random(seed)
        flows = random_flows(rng, 3, 4, 256, multicasts=20)
        tables = xy_routes(3, 4, flows, num_flows=256)
        for flow, (src, dsts) in flows.items():
            assert walk_routes(tables, 3, 4, flow, src) == dict.fromkeys(dsts, 1)


def test_multicast_union_of_paths():
    tables = xy_routes(3, 3, {7: ((1, 1), [(0, 0), (2, 2), (1, 1), (0, 0)])})
    assert tables[(1, 1)][7] == (1 << PORT_W) | (1 << PORT_E) | (1 << PORT_LOCAL)
    assert tables[(1, 0)][7] == 1 << PORT_N
    assert tables[(1, 2)][7] == 1 << PORT_S
    assert walk_routes(tables, 3, 3, 7, (1, 1)) == {(0, 0): 1, (2, 2): 1, (1, 1): 1}


@pytest.mark.parametrize("flows,message", [
    ({0: ((2, 0), [(0, 0)])}, "source (2, 0) is outside the 2 x 2 mesh"),
    ({0: ((0, 0), [(0, 2)])}, "destination (0, 2) is outside"),
    ({0: ((0, 0), [(-1, 0)])}, "destination (-1, 0) is outside"),
    ({0: ((0, 0), ["x"])}, "is not a (row, col) pair"),
    ({64: ((0, 0), [(1, 1)])}, "flow ID 64 is out of range 0..63"),
    ({-1: ((0, 0), [(1, 1)])}, "flow ID -1 is out of range"),
    ({3: ((0, 0), [])}, "flow 3: the destination list is empty"),
    ({3: (0, 0)}, "flow 3: source 0 is not a (row, col) pair"),
])
def test_bad_flows_are_rejected_clearly(flows, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        xy_routes(2, 2, flows)


def test_bad_mesh_is_rejected():
    with pytest.raises(ValueError, match="at least 1 x 1"):
        xy_routes(0, 2, {})


def test_route_words_format():
    tables = xy_routes(2, 3, {9: ((0, 0), [(1, 2)]), 1: ((1, 1), [(1, 1)])})
    words = route_words(tables, 2, 3)
    assert words[0] == CFG_CLEAR
    decoded = {}
    for word in words[1:]:
        assert not word >> 31
        node = (word >> 16) & 0x7FFF
        decoded[divmod(node, 3), (word >> 8) & 0xFF] = word & 0x1F
    expected = {(n, f): m for n, t in tables.items() for f, m in t.items()}
    assert decoded == expected
    assert decoded[(0, 0), 9] == 1 << PORT_E and decoded[(1, 2), 9] == 1 << PORT_LOCAL


def test_route_words_rejects_foreign_tables():
    with pytest.raises(ValueError, match="outside the 2 x 2 mesh"):
        route_words({(2, 2): {0: 1}}, 2, 2)
    with pytest.raises(ValueError, match="not a 5-bit mask"):
        route_words({(0, 0): {0: 64}}, 2, 2)


def test_control_words():
    assert control_words({2: 0, 0: 5, 1: None}) == [0 | (6 << 16), 1, 2 | (1 << 16)]
    with pytest.raises(ValueError, match="source 4 .for sink 0. is out of range 0..3"):
        control_words({0: 4}, sources=4, sinks=2)
    with pytest.raises(ValueError, match="sink 2 is out of range 0..1"):
        control_words({2: 0}, sources=4, sinks=2)


@pytest.mark.parametrize("window", [1, 4, 8])
def test_window_permutation_stays_in_window(window):
    rng = random.Random(window)
    order = window_permutation(rng, 200, window)
    assert sorted(order) == list(range(200))
    arrived = set()
    for value in order:
        low = min(set(range(201)) - arrived)
        assert value < low + window
        arrived.add(value)
    if window > 1:
        assert order != sorted(order)
