"""Ring AllReduce (reduce-scatter, then all-gather) on 2 and 4 sockets, bit-exact.

Every socket's result must equal, bit for bit, the NumPy golden that sums chunk
``c`` in ring order starting at socket ``c + 1`` with binary32 adds
(testbench/system/allreduce.py documents the order and the schedule). The
AllReduce's cycles (first phase start to last phase end, program loads
included) and its kernel-only cycles are printed, so the hosts' AXI channels do
not pause here (tests/test_system_stream.py runs the same player with seeded
pauses); each Runtime's cycle budget is the watchdog; credit, link
source/destination and link protocol checkers run throughout.
"""

import numpy as np
import pytest
from system_common import check_links

from hdl.system.config import SystemParams
from hdl.system.system import LINK_STATS
from testbench.system.allreduce import allreduce_golden, allreduce_script

SEEDS = [1]
WORDS = 512   # binary32 words per socket, whatever the socket count


def _tensors(rng, sockets, lanes):
    shape = (sockets, WORDS // (sockets * lanes), lanes)
    tensors = [rng.standard_normal(shape).astype(np.float32).view(np.uint32)
               for _ in range(sockets)]
    # signed zeros, an infinity, a subnormal: the order of the adds matters bit for bit
    tensors[0][0, 0, :4] = [0x80000000, 0x7F800000, 0x00000001, 0x3F800000]
    tensors[-1][0, 0, :4] = [0x80000000, 0x3F800000, 0x00000001, 0x33800000]
    return tensors


def _run(sockets, seed, run_name, waves, rate=0.0, orchestration="software"):
    system = SystemParams(sockets=sockets)
    tensors = _tensors(np.random.default_rng(seed), sockets, system.socket_rdu(0).lanes)
    script, phases = allreduce_script(system, tensors, orchestration)
    result = script.run(run_name=run_name, seed=seed, waves=waves, host_stall=0.0,
                         timeout_cycles=400_000, flip_rate=rate, drop_rate=rate,
                         link_seed=seed * 104729 + 3)
    want = allreduce_golden(tensors)
    for k in range(sockets):
        got = result[f"out{k}"]
        differ = np.flatnonzero(got != want)
        assert not differ.size, (f"socket {k}: {differ.size} of {want.size} words differ, "
                                 f"first at {differ[0]}: got {got[differ[0]]:#010x} "
                                 f"want {want[differ[0]]:#010x}")
    total = result.cycles(phases[0], phases[-1])
    kernels = sum(result.cycles(name) for name in phases if not name.endswith("load"))
    print(f"AllReduce on {sockets} sockets ({orchestration} orchestration, {WORDS} binary32 "
          f"words per socket): "
          f"{total} cycles incl. program loads, {kernels} cycles in kernel phases")
    check_links(result)
    return result


# In `make regress`: the 4-socket build takes 4-10 minutes, and on 2 sockets the fast
# tier runs the host-orchestrated AllReduce inside the tensor-parallel GEMM and under
# link errors.
@pytest.mark.parametrize("sockets", [pytest.param(n, marks=pytest.mark.regress) for n in (2, 4)])
def test_ring_allreduce_bit_exact(sockets, seed, run_name, waves):
    result = _run(sockets, seed, run_name, waves)
    assert (result["links"][:, :, LINK_STATS.index("tx_replays")] == 0).all()


@pytest.mark.parametrize("sockets", [2, pytest.param(4, marks=pytest.mark.regress)])
def test_scheduled_allreduce_bit_exact(sockets, seed, run_name, waves):
    """Every socket runs the AllReduce from its own AGCU schedule, no host barrier between
    its steps: only the link ports' flit counts order the sockets."""
    _run(sockets, seed, run_name, waves, orchestration="hardware")


def test_scheduled_allreduce_survives_link_errors(seed, run_name, waves):
    """The scheduled AllReduce with 1% of link flits flipped and 1% dropped."""
    links = _run(2, seed, run_name, waves, rate=0.01, orchestration="hardware")["links"]
    assert links[:, :, LINK_STATS.index("tx_replays")].sum() > 0


def test_ring_allreduce_survives_link_errors(seed, run_name, waves):
    """2 sockets, 1% of link flits flipped and 1% dropped: same bits, errors replayed."""
    links = _run(2, seed, run_name, waves, rate=0.01)["links"]
    flips = links[:, :, LINK_STATS.index("ch_flips")].sum()
    drops = links[:, :, LINK_STATS.index("ch_drops")].sum()
    replays = links[:, :, LINK_STATS.index("tx_replays")].sum()
    detected = (links[:, :, LINK_STATS.index("rx_crc_errors")].sum()
                + links[:, :, LINK_STATS.index("rx_framing_errors")].sum())
    print(f"{flips} flips, {drops} drops, {detected} damaged frames detected, {replays} replays")
    assert flips > 0 and drops > 0 and detected > 0 and replays > 0
