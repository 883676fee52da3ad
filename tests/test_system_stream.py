"""Two sockets, tile to tile over the link: ``out = z + x * scale``.

Socket 0's PCU scales ``x`` and its output leaves the tile at the AGCU node for
the link; socket 1's link node pairs each received vector with a local ``z``
vector, its PCU adds them and its AGCU writes the sum to socket 1's memory
(socket 0 writes nothing). Checked bit for bit against the PCU golden model
(testbench/golden/pcu.py), on a clean link and on one that flips bits and drops
flits (seeded): the result must not change, and the link must have detected
the errors and replayed. The hosts' AXI channels pause at random (seeded);
each Runtime's cycle budget is the watchdog; the meshes' credit checkers and
the links' source/destination checks run throughout.
"""

import numpy as np
import pytest

from hdl.system.config import SystemParams
from hdl.system.system import DIRECTIONS, LINK_STATS
from testbench.system.cross_socket_add import cross_socket_add_golden, cross_socket_add_script

SEEDS = [1, 2]
SYSTEM = SystemParams(sockets=2)
VECTORS = 48
SCALE = 0xBFC00000   # -1.5


def _tensors(seed):
    rng = np.random.default_rng(seed)
    shape = (VECTORS, SYSTEM.socket_rdu(0).lanes)
    x = rng.standard_normal(shape).astype(np.float32).view(np.uint32)
    z = (rng.standard_normal(shape) * 4).astype(np.float32).view(np.uint32)
    x[0, :] = [0x00000000, 0x80000000, 0x7F800000, 0x00000001]   # zeros, inf, subnormal
    z[0, :] = [0x80000000, 0x80000000, 0xFF800000, 0x80000001]
    return x, z


def _stat(result, direction, name):
    return int(result["links"][0, DIRECTIONS.index(direction), LINK_STATS.index(name)])


def _check(got, want):
    differ = np.flatnonzero(got != want)
    assert got.shape == want.shape, f"{got.shape} words, expected {want.shape}"
    assert not differ.size, (f"{differ.size} of {want.size} words differ, first at {differ[0]}:"
                             f" got {got[differ[0]]:#010x} want {want[differ[0]]:#010x}")


@pytest.mark.parametrize("errors", [False, True], ids=["clean", "errors"])
def test_cross_socket_add_bit_exact(errors, seed, run_name, waves):
    x, z = _tensors(seed)
    script = cross_socket_add_script(SYSTEM, x, z, SCALE)
    rate = 0.02 if errors else 0.0
    result = script.run(run_name=run_name, seed=seed, waves=waves, host_stall=0.2,
                         flip_rate=rate, drop_rate=rate, link_seed=seed * 7919 + 1)
    _check(result["out"], cross_socket_add_golden(SYSTEM, x, z, SCALE))
    data_frames = _stat(result, "ab", "tx_data_frames")
    replays = _stat(result, "ab", "tx_replays")
    detected = _stat(result, "ab", "rx_crc_errors") + _stat(result, "ab", "rx_framing_errors")
    flips, drops = _stat(result, "ab", "ch_flips"), _stat(result, "ab", "ch_drops")
    print(f"link 0->1: {data_frames} data frames, {flips} flips, {drops} drops, "
          f"{detected} damaged frames detected, {replays} replays; kernel cycles "
          f"producer {result['producer_cycles'][1]}, consumer {result['consumer_cycles'][1]}")
    for d in DIRECTIONS:
        assert _stat(result, d, "violations") == 0, f"link protocol checker ({d})"
    assert data_frames > 0
    if errors:
        assert flips > 0 and drops > 0, "the channel injected no errors: rate too low"
        assert detected > 0 and replays > 0, "errors were injected but nothing was replayed"
    else:
        assert flips == drops == detected == replays == 0
