"""CoE router and traces: logits against the systolic golden, padding, confidence, fallback,
the category map, and traces deterministic from their seed."""

import numpy as np
import pytest
from coe_common import expert_directory

from hdl.rdu.config import rdu_params
from testbench.coe.errors import UnknownExpert
from testbench.coe.experts import (
    GENERAL,
    ROUTER_FILE,
    RouterCheckpoint,
    load_experts,
    load_router,
)
from testbench.coe.router import Router, pooled_scores, softmax_confidence
from testbench.coe.trace import Request, make_trace, zipf_probabilities
from testbench.compiler.compiler import compile_graph
from testbench.compiler.transformer import DecoderShape
from testbench.golden.numerics import f32_add, f32_to_bf16
from testbench.golden.systolic import systolic_tile

SEEDS = [1, 2, 3]
D, COUNT = 16, 6
SHAPE = DecoderShape(d_model=D, heads=1, head_dim=4, d_ff=8, tokens=4)


@pytest.fixture(scope="module")
def coe(tmp_path_factory):
    directory = expert_directory(tmp_path_factory, COUNT, SHAPE, seed=11)
    experts = load_experts(directory, SHAPE)
    return experts, load_router(directory / ROUTER_FILE, D)


def _f32_bits(values) -> np.ndarray:
    return np.asarray(values, np.float32).view(np.uint32)


def test_logits_match_the_systolic_gemm(coe, seed):
    experts, checkpoint = coe
    router = Router(checkpoint, experts)
    rng = np.random.default_rng(seed)
    m = int(rng.integers(1, 9))
    x = np.asarray(f32_to_bf16(_f32_bits(rng.standard_normal((m, D)))), np.uint16)
    # K = D fits one PMU chunk, so the GEMM is one systolic tile.
    expected = systolic_tile(x, checkpoint.weights)
    assert np.array_equal(router.logits(x), expected)
    # Zero padding to more rows adds rows of their own and changes no bit of the others.
    padded = router.logits(x, 12)
    assert padded.shape == (12, COUNT) and np.array_equal(padded[:m], expected)
    decision = router.route(Request(5, 5, m, x, "code"), 12)
    assert decision.tokens == 12 and np.array_equal(decision.logits, padded)
    scores = expected.view(np.float32).astype(np.float64).mean(axis=0)
    assert np.array_equal(pooled_scores(padded, m), scores)
    assert decision.category == checkpoint.categories[int(np.argmax(scores))]


def test_chunked_k_adds_partials_in_chunk_order(coe):
    experts, checkpoint = coe
    router = Router(checkpoint, experts, pmu_depth=4)
    rng = np.random.default_rng(4)
    x = np.asarray(f32_to_bf16(_f32_bits(rng.standard_normal((5, D)))), np.uint16)
    chunks = [systolic_tile(x[:, k:k + 4], checkpoint.weights[k:k + 4]) for k in range(0, D, 4)]
    expected = chunks[0]
    for part in chunks[1:]:
        expected = np.asarray(f32_add(expected, part), np.uint32)
    assert np.array_equal(router.logits(x, 8)[:5], expected)


def test_softmax_confidence_edges():
    assert softmax_confidence(np.zeros(4)) == (0, 0.25)
    index, confidence = softmax_confidence(np.array([1.0, 3.0, 2.0]))
    assert index == 1
    assert confidence == pytest.approx(np.exp(3) / (np.exp(1) + np.exp(3) + np.exp(2)),
                                       rel=1e-15)
    assert softmax_confidence(np.array([np.nan, 1.0])) == (1, 1.0)
    assert softmax_confidence(np.array([np.inf, 1.0, np.inf])) == (0, 0.5)
    assert softmax_confidence(np.array([np.nan, -np.inf])) == (0, 0.0)
    assert softmax_confidence(np.array([np.nan, np.nan]))[1] == 0.0


def test_low_confidence_falls_back_to_general(coe):
    experts, checkpoint = coe
    router = Router(checkpoint, experts, threshold=0.5)
    flat = router.decide(0, _f32_bits([[0.0] * COUNT]), 1)
    assert flat.fallback and flat.expert == experts[0].name and experts[0].category == GENERAL
    sure = router.decide(1, _f32_bits([[0.0, 0.0, 9.0, 0.0, 0.0, 0.0],
                                       [0.0, 0.0, 9.0, 0.0, 0.0, 0.0],
                                       [99.0, 0.0, 0.0, 0.0, 0.0, 0.0]]), 2)
    assert not sure.fallback and sure.category == checkpoint.categories[2]
    assert sure.expert == experts[2].name


def test_category_map_errors(coe):
    experts, checkpoint = coe
    with pytest.raises(UnknownExpert, match="router category 'law' has no expert"):
        Router(checkpoint, [e for e in experts if e.category != "law"])
    with pytest.raises(UnknownExpert, match="'general' has no expert"):
        Router(checkpoint, {c: "x" for c in checkpoint.categories if c != GENERAL})
    twice = RouterCheckpoint(checkpoint.weights, checkpoint.categories)
    with pytest.raises(UnknownExpert, match="has two experts"):
        Router(twice, [*experts, experts[1]])


def test_trace_deterministic_and_skewed(coe, seed):
    experts, checkpoint = coe
    first = make_trace(checkpoint, 200, seed)
    again = make_trace(checkpoint, 200, seed)
    other = make_trace(checkpoint, 200, seed + 100)
    assert all(a.m == b.m and a.target == b.target and np.array_equal(a.x, b.x)
               for a, b in zip(first, again, strict=True))
    assert any(not np.array_equal(a.x, b.x) for a, b in zip(first, other, strict=True))
    assert [r.id for r in first] == list(range(200)) == [r.arrival for r in first]
    assert all(1 <= r.m <= 8 and r.x.shape == (r.m, D) and r.x.dtype == np.uint16 for r in first)
    counts = sorted((sum(r.target == c for r in first) for c in checkpoint.categories),
                    reverse=True)
    # Zipf 1.2 over 6 categories: the top one draws ~44%, the last ~5%.
    assert counts[0] > 2.5 * counts[-1]
    assert zipf_probabilities(3, 1.0) == pytest.approx([6 / 11, 3 / 11, 2 / 11])


def test_trace_steers_the_router(coe):
    experts, checkpoint = coe
    router = Router(checkpoint, experts)
    trace = make_trace(checkpoint, 60, 9, weak_share=0.0)
    routes = router.route_trace(trace)
    hits = sum(routes[r.id].category == r.target and not routes[r.id].fallback for r in trace)
    assert hits >= 0.9 * len(trace)
    weak = make_trace(checkpoint, 40, 9, weak_share=1.0)
    assert sum(route.fallback for route in router.route_trace(weak).values()) >= 30


def test_router_graphs_compile_for_the_rdu(coe):
    experts, checkpoint = coe
    config = rdu_params("small")
    router = Router(checkpoint, experts, lanes=config.lanes, pmu_depth=config.pmu_depth)
    compiled = compile_graph(router.graph(8), config, "unfused")
    assert compiled.kernels and compiled.weight_buffers
