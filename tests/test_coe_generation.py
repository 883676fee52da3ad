"""Requests that generate several tokens (testbench/coe/decode_step.next_token_inputs):
each token is one decode step of the request's expert, which stays in its slot; the
next step reads this step's output as its x and a K/V cache slid by one token (the
oldest dropped, the new key and value appended). On the RTL every token's outputs are
bit-exact against the golden chain."""

import numpy as np
import pytest
from coe_common import expert_directory

from hdl.rdu.config import rdu_params
from testbench.coe.decode_step import decode_outputs, next_token_inputs, request_inputs
from testbench.coe.demo_session import run_session
from testbench.coe.experts import decoder_weights
from testbench.coe.machine import CoEMachine
from testbench.coe.plan import Run, Switch
from testbench.coe.router import load_experts_and_router
from testbench.coe.trace import make_trace
from testbench.compiler.transformer import DecoderShape

CONFIG = rdu_params("coe")
SHAPE = DecoderShape(d_model=8, heads=2, head_dim=4, d_ff=8, tokens=4)


@pytest.fixture(scope="module")
def experts_dir(tmp_path_factory):
    return expert_directory(tmp_path_factory, 3, SHAPE, seed=5)


@pytest.fixture(scope="module")
def parts(experts_dir):
    return load_experts_and_router(experts_dir, SHAPE, lanes=CONFIG.lanes,
                                   pmu_depth=CONFIG.pmu_depth)


def test_next_token_reads_the_output_and_a_slid_cache(parts):
    experts, router = parts
    trace = make_trace(router.checkpoint, 1, 3)
    inputs = request_inputs(next(iter(trace)), SHAPE, trace.seed)
    outputs = decode_outputs(experts[0], {**inputs, **decoder_weights(experts[0], SHAPE)},
                             SHAPE, CONFIG.lanes, CONFIG.pmu_depth)
    following = next_token_inputs(inputs, outputs, SHAPE.heads)
    assert following["x"].dtype == np.uint32 and following["x"].shape == inputs["x"].shape
    assert np.array_equal(following["x"].reshape(-1), outputs["out"].reshape(-1))
    for h in range(SHAPE.heads):
        keys, values = following[f"k_cache{h}"], following[f"v_cache{h}"]
        assert keys.shape == inputs[f"k_cache{h}"].shape
        assert values.shape == inputs[f"v_cache{h}"].shape
        assert np.array_equal(keys[:, :-1], inputs[f"k_cache{h}"][:, 1:])
        assert np.array_equal(keys[:, -1], outputs[f"k{h}_new"].reshape(-1))
        assert np.array_equal(values[:-1], inputs[f"v_cache{h}"][1:])
        assert np.array_equal(values[-1], outputs[f"v{h}_new"].reshape(-1))
    assert np.array_equal(following["cos"], inputs["cos"])


def test_trace_new_tokens_leave_the_rest_of_the_trace_unchanged(parts):
    _, router = parts
    one = make_trace(router.checkpoint, 12, 4)
    many = make_trace(router.checkpoint, 12, 4, new_tokens=(1, 5))
    assert [r.new_tokens for r in one] == [1] * 12
    assert {r.new_tokens for r in many} <= set(range(1, 6)) and max(
        r.new_tokens for r in many) > 1
    for a, b in zip(one, many, strict=True):
        assert (a.m, a.target) == (b.m, b.target) and np.array_equal(a.x, b.x)
    with pytest.raises(ValueError, match="new_tokens"):
        make_trace(router.checkpoint, 2, 4, new_tokens=(0, 2))


def test_plan_runs_every_token_after_one_switch(parts):
    experts, router = parts
    trace = make_trace(router.checkpoint, 6, 2, new_tokens=(2, 4))
    machine = CoEMachine(CONFIG, router, {e.name: e for e in experts}, trace, slots=1,
                         shape=SHAPE)
    plan = machine.plan(router.route_trace(trace))
    runs = [s for s in plan.steps if isinstance(s, Run)]
    assert len(runs) == sum(r.new_tokens for r in trace)
    assert plan.hits + plan.misses == len(trace)  # one slot access per request
    for request in trace:
        tokens = [(i, s.token) for i, s in enumerate(plan.steps)
                  if isinstance(s, Run) and s.request == request.id]
        assert [t for _, t in tokens] == list(range(request.new_tokens))
        first, last = tokens[0][0], tokens[-1][0]
        assert not any(isinstance(s, Switch) for s in plan.steps[first:last])


def test_generated_tokens_bit_exact_on_the_rtl(experts_dir, seed, run_name, waves):
    run = run_session(CONFIG, experts_dir, shape=SHAPE, requests=2, trace_seed=seed, zipf=0.5,
                      max_tokens=2, new_tokens=3, slots=1, run_name=run_name, seed=seed,
                      waves=waves)
    assert run.mismatches == [], run.mismatches
    tokens = [s.token for s in run.plan.steps if isinstance(s, Run)]
    assert max(tokens) >= 1, "the trace must generate more than one token somewhere"
    assert run.summary["decode_steps"] == len(tokens)
