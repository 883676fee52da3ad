"""Decoder-layer experts sharded tensor-parallel across 2 sockets (testbench/coe/sharded.py):
every socket keeps its heads' attention weights, its feed-forward columns (w1, w3) and
rows (w2) and the norms in its DDR, copies them DDR -> HBM slot at the same time as the
other socket, and runs TPDecoder's layer on them; every socket's out and K/V entries are
bit-exact against TPDecoder.golden, and a switch takes about half as long as on 1 socket.
The router is split by columns: every socket computes its categories' logits, and the
blocks concatenate to the unsplit router's bit for bit."""

from dataclasses import replace

import numpy as np
import pytest
from coe_common import expert_directory

from hdl.rdu.config import rdu_params
from hdl.system.config import SystemParams
from testbench.coe.decode_step import decode_outputs, request_inputs
from testbench.coe.experts import (
    decoder_weights,
)
from testbench.coe.plan import ROUTER_PROGRAM, LoadProgram
from testbench.coe.router import Router, load_experts_and_router, router_graph
from testbench.coe.sharded import ShardedCoE, run_sharded_session
from testbench.coe.trace import make_trace
from testbench.compiler import evaluate
from testbench.compiler.execute import buffer_contents
from testbench.compiler.transformer import DecoderShape
from testbench.system.tp_gemm import split_ranges

CONFIG = rdu_params("coe")
D = 8
SHAPE = DecoderShape(d_model=D, heads=2, head_dim=4, d_ff=8, tokens=3)


def system(sockets: int) -> SystemParams:
    return SystemParams(sockets=sockets, rdu=CONFIG)


@pytest.fixture(scope="module")
def experts_dir(tmp_path_factory):
    return expert_directory(tmp_path_factory, 4, SHAPE, seed=7)


@pytest.fixture(scope="module")
def parts(experts_dir):
    experts, router = load_experts_and_router(experts_dir, SHAPE, lanes=CONFIG.lanes,
                                              pmu_depth=CONFIG.pmu_depth)
    trace = make_trace(router.checkpoint, 2, 1, tokens=(1, 2))
    return experts, router, trace


@pytest.fixture
def quick_build(monkeypatch):
    """The -O0 system build: these runs are short, and a make test builds it in a minute
    instead of several (a CoE session from the CLI builds the optimised one)."""
    monkeypatch.setenv("RDU_BUILD_PROFILE", "quick")


def _sharded(parts, sockets):
    experts, router, trace = parts
    return ShardedCoE(system(sockets), router, {e.name: e for e in experts}, trace, slots=1,
                      shape=SHAPE)


def test_shards_hold_their_heads_ffn_slices_and_the_norms(parts):
    experts, _, _ = parts
    sharded = _sharded(parts, 2)
    whole = decoder_weights(experts[1], SHAPE)
    for k in range(2):
        shard = sharded.shard(experts[1], k)
        h = k  # heads h % 2 == k: one head each
        assert sorted(shard) == sorted(
            ["attn_norm", "ffn_norm", "w1", "w2", "w3"]
            + [f"{p}{h}{r}" for p in ("wq", "wk") for r in ("", "_rot")]
            + [f"wv{h}", f"wo{h}"])
        columns = slice(4 * k, 4 * k + 4)
        assert np.array_equal(shard["w1"], whole["w1"][:, columns])
        assert np.array_equal(shard["w3"], whole["w3"][:, columns])
        assert np.array_equal(shard["w2"], whole["w2"][columns, :])
        for name in ("attn_norm", "ffn_norm", f"wq{h}_rot", f"wo{h}"):
            assert np.array_equal(shard[name], whole[name])
    with pytest.raises(ValueError, match="equal column shards"):
        ShardedCoE(system(2), parts[1], {e.name: e for e in experts}, parts[2], slots=1,
                   shape=DecoderShape(d_model=D, heads=2, head_dim=4, d_ff=7, tokens=3))


def test_shard_image_layout_places_every_weight_buffer(parts):
    experts, _, _ = parts
    one, two = _sharded(parts, 1), _sharded(parts, 2)
    beat = CONFIG.vector_bits // 8
    for sharded in (one, two):
        assert sharded.image_bytes % CONFIG.copy_burst_bytes == 0
        for k in range(sharded.sockets):
            image = sharded.shard_image(experts[2], k)
            assert image.nbytes == sharded.image_bytes
            weights = sharded.shard(experts[2], k)
            spans = []
            for (graph, name), offset in sharded.images[k].offsets.items():
                assert offset % beat == 0
                contents = buffer_contents(sharded.tp.compiled[k][graph], name,
                                           weights).reshape(-1)
                assert np.array_equal(image[offset // 4:offset // 4 + contents.size],
                                      contents), (k, graph, name)
                spans.append((offset, offset + contents.size * 4))
            spans.sort()
            ends, starts = [e for _, e in spans[:-1]], [b for b, _ in spans[1:]]
            assert all(e <= b for e, b in zip(ends, starts, strict=True)), "buffers overlap"
            assert spans[-1][1] <= sharded.image_bytes
    assert two.image_bytes < 0.7 * one.image_bytes  # half the heads and columns each


@pytest.mark.parametrize("tokens, d, categories, sockets",
                         [(4, 64, 150, 8), (3, D, 5, 2), (2, 3 * CONFIG.pmu_depth + 5, 37, 3)])
def test_router_column_blocks_concatenate_to_the_unsplit_router(tokens, d, categories,
                                                                sockets):
    """A logit's K sum does not depend on the other columns (the GEMM's K chunks depend
    on K and pmu_depth only), so the golden logits of the sockets' column blocks
    concatenate to the unsplit router's bit for bit: on normal values and on every bf16
    bit pattern (NaN, inf, subnormals, -0), with K in one chunk and in several."""
    rng = np.random.default_rng(categories)
    normal = rng.standard_normal((tokens + categories, d)).astype(np.float32)
    bf16 = (normal.view(np.uint32) >> 16).astype(np.uint16)
    for x, w in ((bf16[:tokens], bf16[tokens:].T),
                 (rng.integers(0, 1 << 16, (tokens, d), dtype=np.uint16),
                  rng.integers(0, 1 << 16, (d, categories), dtype=np.uint16))):
        whole = evaluate(router_graph(tokens, d, categories), {"x": x, "router": w},
                         CONFIG.lanes, CONFIG.pmu_depth)["logits"]
        blocks = [evaluate(router_graph(tokens, d, len(columns)),
                           {"x": x, "router": w[:, columns.start:columns.stop]},
                           CONFIG.lanes, CONFIG.pmu_depth)["logits"]
                  for columns in split_ranges(categories, sockets)]
        assert np.array_equal(np.concatenate(blocks, axis=1), whole)


def test_router_columns_split_across_the_sockets(parts):
    """Every socket computes a contiguous share of the categories with the weights'
    columns staged; with more sockets than categories the last ones compute none."""
    experts, router, trace = parts
    categories = len(router.checkpoint.categories)
    two = _sharded(parts, 2)
    assert two.router_columns == split_ranges(categories, 2)
    for compiled, columns in zip(two.router_programs, two.router_columns, strict=True):
        assert compiled.infos["logits"].shape == (trace.tokens, len(columns))
    first = router.checkpoint.categories[0]
    one_category = Router(replace(router.checkpoint,
                                  weights=router.checkpoint.weights[:, :1],
                                  categories=(first,)),
                          {first: experts[0].name, router.general: experts[0].name},
                          lanes=CONFIG.lanes, pmu_depth=CONFIG.pmu_depth)
    lone = ShardedCoE(system(2), one_category, {e.name: e for e in experts}, trace, slots=1,
                      shape=SHAPE)
    assert lone.router_columns == [range(1)] and len(lone.router_programs) == 1


def test_one_socket_golden_is_the_single_socket_layer(parts):
    experts, _, trace = parts
    one = _sharded(parts, 1)
    request = next(iter(trace))
    want = decode_outputs(experts[0], request_inputs(request, SHAPE, trace.seed), SHAPE,
                          CONFIG.lanes, CONFIG.pmu_depth)
    got = one.tp.golden(one.inputs(experts[0], request.id))
    assert np.array_equal(got["res"][0]["out"], want["out"])
    for h in range(SHAPE.heads):
        assert np.array_equal(got["attn"][0][f"k{h}_new"], want[f"k{h}_new"])


@pytest.mark.regress  # builds a 1- and a 2-socket system with memory tiers (minutes each)
def test_two_sockets_switch_in_about_half_the_time(experts_dir, seed, run_name, waves,
                                                   quick_build):
    runs = {}
    for sockets in (1, 2):
        runs[sockets] = run = run_sharded_session(
            system(sockets), experts_dir, shape=SHAPE, requests=2, trace_seed=1, zipf=0.0,
            max_tokens=2, slots=1, run_name=f"{run_name}_{sockets}s", seed=seed, waves=waves)
        assert run.mismatches == [], (sockets, run.mismatches)
        # trace 1 routes its 2 requests to 2 experts: the second replaces the first in the slot
        switched = [run.plan.steps[i].expert for i in run.engine_cycles]
        assert len(set(switched)) == 2, switched
    one, two = runs[1], runs[2]
    assert list(one.engine_cycles) == list(two.engine_cycles)  # the same plan's switches
    for index, per_socket in two.engine_cycles.items():
        (alone,) = one.engine_cycles[index]
        # each socket copies about half the bytes on its own engine
        assert all(cycles < 0.7 * alone for cycles in per_socket), (index, per_socket, alone)
        # the copies ran at the same time: the phase is not the sum of both
        assert two.phase_cycles[index] < sum(per_socket) + 0.5 * alone
    assert two.switch_cycles < 0.75 * one.switch_cycles, (two.switch_cycles, one.switch_cycles)
    runs_cycles = {s: {i: c for i, c in r.phase_cycles.items() if i not in r.engine_cycles}
                   for s, r in runs.items()}
    print(f"switch cycles: 1 socket {one.switch_cycles}, 2 sockets {two.switch_cycles}; "
          f"engine cycles {one.engine_cycles} vs {two.engine_cycles}; "
          f"layer cycles per Run {runs_cycles[1]} vs {runs_cycles[2]}")


def test_session_on_two_sockets_routes_on_the_rdu_with_programs_resident(
        parts, seed, run_name, waves, quick_build):
    """A whole session on 2 sockets as `rdu coe run --sockets 2` runs it: the router split
    by columns across both sockets and every Run bit-exact, each socket's graphs as AGCU
    schedules whose programs stay in device memory; a corrupted logit is caught."""
    experts, router, trace = parts
    sharded = _sharded(parts, 2)
    plan = sharded.plan(router.route_trace(trace))
    script = sharded.build(plan, orchestration="hardware")
    result = script.run(run_name=run_name, seed=seed, waves=waves, timeout_cycles=400_000)
    assert sharded.check(plan, result) == []
    cycles = sharded.cycles(plan, result)
    kinds = {}
    for index, step in enumerate(plan.steps):
        kinds.setdefault(type(step).__name__, []).append(cycles[index])
    assert len(kinds["Route"]) == len(trace) and min(kinds["Route"]) > 0
    assert min(kinds["Run"]) > 0 and min(kinds["LoadProgram"]) > 0
    # before every Run, socket 0's AGCU loads every kernel's program words at least once
    words = sum(len(k.image.words) for c in sharded.tp.compiled[0].values() for k in c.kernels)
    expert_loads = [cycles[i] for i, step in enumerate(plan.steps)
                    if isinstance(step, LoadProgram) and step.program != ROUTER_PROGRAM]
    assert len(expert_loads) == len(kinds["Run"]) and min(expert_loads) >= words
    # the links carried both AllReduces of every Run: a ring over 2 sockets sends half
    # of each region from each socket, twice; the wire also carries headers, CRCs, acks
    links = sharded.link_bytes(plan, result)
    assert links["payload"] == len(kinds["Run"]) * 2 * 4 * sum(sharded.tp.region_words.values())
    assert links["wire"] > links["payload"] > 0, links
    # every Route ran on both sockets: each read back its own categories' logits
    routes = [i for i, step in enumerate(plan.steps) if type(step).__name__ == "Route"]
    assert len(sharded.router_columns) == 2
    for index in routes:
        want = router.logits(sharded.requests[plan.steps[index].request].x, trace.tokens)
        blocks = sharded.route_logits(result, index)
        for block, columns in zip(blocks, sharded.router_columns, strict=True):
            assert np.array_equal(block, want[:, columns.start:columns.stop]), index
    # the router's logits are checked: one wrong word is reported as a route mismatch
    (out,) = sharded.router_programs[1].graph.outputs
    corrupted = dict(result.items())
    name = f"route{routes[0]}_s1_{out}"
    corrupted[name] = np.array(result[name]) ^ 1
    bad = sharded.check(plan, type(result)(corrupted))
    assert [m.step for m in bad] == [routes[0]], bad
    assert "route of request" in bad[0].what and "socket(s) 1" in bad[0].what


def test_next_token_inputs_follow_the_sockets_outputs(parts):
    """A request's second token reads the first token's out and a cache slid by its new
    K/V, taken from the sockets' outputs: on one socket the single-socket chain."""
    experts, _, trace = parts
    one = _sharded(parts, 1)
    request = next(iter(trace))
    first = request_inputs(request, SHAPE, trace.seed)
    want = decode_outputs(experts[0], {**first, **decoder_weights(experts[0], SHAPE)},
                          SHAPE, CONFIG.lanes, CONFIG.pmu_depth)
    second = one.inputs(experts[0], request.id, 1)
    assert np.array_equal(second["x"].reshape(-1), want["out"].reshape(-1))
    for h in range(SHAPE.heads):
        assert np.array_equal(second[f"k_cache{h}"][:, -1], want[f"k{h}_new"].reshape(-1))
        assert np.array_equal(second[f"v_cache{h}"][-1], want[f"v{h}_new"].reshape(-1))
        assert np.array_equal(second[f"k_cache{h}"][:, :-1], first[f"k_cache{h}"][:, 1:])
    # on two sockets the heads' new entries come from the socket that holds each head
    two = _sharded(parts, 2)
    golden = two.golden(experts[0], request.id, 0)
    following = two.inputs(experts[0], request.id, 1)
    for h in range(SHAPE.heads):
        assert np.array_equal(following[f"k_cache{h}"][:, -1],
                              golden["attn"][h % 2][f"k{h}_new"].reshape(-1))
    assert np.array_equal(following["x"].reshape(-1), golden["res"][0]["out"].reshape(-1))
