"""Decoder experts' feed-forward gate/up weights sharded tensor-parallel across 2 sockets:
every socket copies its half of w1, w3 DDR -> HBM at the same time and runs its half of the
SwiGLU; the concatenated output is bit-exact against the unsharded golden model, and a
switch takes about half as long as on 1 socket."""

import numpy as np
import pytest

from hdl.rdu.config import rdu_config
from hdl.system.config import SystemConfig
from testbench.coe.experts import ROUTER_FILE, load_experts, load_router, make_experts
from testbench.coe.router import Router
from testbench.coe.sharded import ShardedCoE, run_sharded_session
from testbench.coe.trace import make_trace
from testbench.compiler.transformer import DecoderShape

CONFIG = rdu_config("coe")
D, F = 16, 32  # w1, w3: an image of 4 KiB (2 KiB per shard): copies long enough to time
SHAPE = DecoderShape(d_model=D, heads=1, head_dim=4, d_ff=F, tokens=4)


def system(sockets: int) -> SystemConfig:
    return SystemConfig(sockets=sockets, rdu=CONFIG)


@pytest.fixture(scope="module")
def experts_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("experts")
    make_experts(directory, 4, SHAPE, seed=7)
    return directory


def test_shards_are_column_slices_and_f_must_split(experts_dir):
    experts = load_experts(experts_dir, SHAPE)
    router = Router(load_router(experts_dir / ROUTER_FILE, D), experts, lanes=CONFIG.lanes,
                    pmu_depth=CONFIG.pmu_depth)
    trace = make_trace(router.checkpoint, 2, 1)
    by_name = {e.name: e for e in experts}
    sharded = ShardedCoE(system(2), router, by_name, trace, slots=1)
    halves = [sharded.shard(experts[1], k) for k in range(2)]
    for name in ("w1", "w3"):
        assert np.array_equal(np.concatenate([h[name] for h in halves], axis=1),
                              experts[1].weights[name])
    whole = ShardedCoE(system(1), router, by_name, trace, slots=1)
    assert sharded.image.nbytes < whole.image.nbytes
    with pytest.raises(ValueError, match="column shards"):
        ShardedCoE(SystemConfig(sockets=3, rdu=CONFIG), router, by_name, trace, slots=1)


@pytest.mark.regress  # builds a 1- and a 2-socket system with memory tiers (minutes each)
def test_two_sockets_switch_in_about_half_the_time(experts_dir, seed, run_name, waves):
    runs = {}
    for sockets in (1, 2):
        runs[sockets] = run = run_sharded_session(
            system(sockets), experts_dir, shape=SHAPE, requests=3, trace_seed=seed, zipf=0.5,
            max_tokens=2, slots=1, run_name=f"{run_name}_{sockets}s", seed=seed, waves=waves)
        assert run.mismatches == [], (sockets, run.mismatches)
        assert run.engine_cycles, "the trace must make the session switch experts"
    one, two = runs[1], runs[2]
    assert list(one.engine_cycles) == list(two.engine_cycles)  # the same plan's switches
    for index, per_socket in two.engine_cycles.items():
        (alone,) = one.engine_cycles[index]
        # each socket copies half the bytes on its own engine
        assert all(cycles < 0.7 * alone for cycles in per_socket), (index, per_socket, alone)
        # the copies ran at the same time: the phase is not the sum of both
        assert two.phase_cycles[index] < sum(per_socket) + 0.5 * alone
    assert two.switch_cycles < 0.75 * one.switch_cycles, (two.switch_cycles, one.switch_cycles)
    print(f"switch cycles: 1 socket {one.switch_cycles}, 2 sockets {two.switch_cycles}; "
          f"engine cycles {one.engine_cycles} vs {two.engine_cycles}")
