"""CoE session plans: replayed step by step against an independent model of HBM and the
tile, counts that add up, FCFS and batching step patterns, determinism, clear errors."""

from dataclasses import replace

import pytest
from coe_common import expert_directory

from testbench.coe.errors import DDRFull, ExpertTooLarge, UnknownExpert
from testbench.coe.plan import LoadProgram, Route, Run, Switch, plan_session
from testbench.coe.policies import POLICIES
from testbench.coe.policy_compare import compare_policies, format_comparison
from testbench.coe.router import load_experts_and_router
from testbench.coe.scheduler import FCFS, ExpertBatching
from testbench.coe.trace import make_trace
from testbench.compiler.transformer import DecoderShape

D, COUNT, SLOTS = 16, 8, 3
SHAPE = DecoderShape(d_model=D, heads=1, head_dim=4, d_ff=8, tokens=4)


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    experts, router = load_experts_and_router(
        expert_directory(tmp_path_factory, COUNT, SHAPE, seed=5), SHAPE)
    trace = make_trace(router.checkpoint, 48, seed=3, zipf=1.0)
    return experts, router, trace, router.route_trace(trace)


def _replay(plan, experts, trace):
    """Check every step against a model of the HBM slots and the tile's program."""
    sizes = {e.name: e.nbytes for e in experts}
    ddr = {p.expert: p.address for p in plan.ddr_layout}
    requests = {r.id: r for r in trace}
    hbm, loaded, routed, ran = {}, None, [], []
    for index, step in enumerate(plan.steps):
        where = f"step {index}: {step}"
        if isinstance(step, LoadProgram):
            assert loaded != (step.program, step.slot), where  # never a useless reload
            assert step.tokens == trace.tokens, where
            if step.program != "router":
                assert hbm.get(step.slot) == step.program, where
            loaded = (step.program, step.slot)
        elif isinstance(step, Route):
            assert loaded == ("router", None), where
            assert step.request not in routed and step.m == requests[step.request].m, where
            assert step.expert == plan.routes[step.request].expert, where
            routed.append(step.request)
        elif isinstance(step, Switch):
            assert step.expert not in hbm.values(), where
            assert 0 <= step.slot < plan.slots, where
            assert hbm.get(step.slot) == step.evicted, where
            assert step.evicted is not None or len(hbm) < plan.slots, where
            assert step.hbm_address == step.slot * plan.slot_bytes, where
            assert (step.ddr_address, step.nbytes) == (ddr[step.expert], sizes[step.expert])
            hbm[step.slot] = step.expert
        elif isinstance(step, Run):
            assert step.request in routed and step.request not in ran, where
            assert step.expert == plan.routes[step.request].expert, where
            assert hbm.get(step.slot) == step.expert and loaded == (step.expert, step.slot), where
            assert step.m == requests[step.request].m, where
            ran.append(step.request)
        else:
            raise AssertionError(f"unknown step {step!r}")
    assert routed == [r.id for r in trace]  # routed in arrival order
    assert sorted(ran) == routed
    switches = [s for s in plan.steps if isinstance(s, Switch)]
    assert plan.hits + plan.misses == len(trace) and plan.misses == len(switches)
    assert plan.evictions == sum(s.evicted is not None for s in switches)
    assert plan.bytes["ddr_to_hbm"] == sum(s.nbytes for s in switches)
    assert plan.bytes["host_to_ddr"] == sum(sizes.values())
    assert plan.program_loads == sum(isinstance(s, LoadProgram) for s in plan.steps)
    return ran


@pytest.mark.parametrize("policy", sorted(POLICIES))
@pytest.mark.parametrize("scheduler", [FCFS(), ExpertBatching(6)], ids=["fcfs", "batch6"])
def test_plan_replays(session, policy, scheduler):
    experts, router, trace, routes = session
    plan = plan_session(experts, router, trace, policy, scheduler, SLOTS, routes=routes)
    ran = _replay(plan, experts, trace)
    if scheduler.window == 1:
        assert ran == [r.id for r in trace]
    else:
        for start in range(0, len(trace), scheduler.window):
            window = ran[start:start + scheduler.window]
            assert sorted(window) == list(range(start, start + len(window)))
            order = [routes[i].expert for i in window]
            # Grouped by expert: once an expert's group ends it does not come back.
            groups = [e for i, e in enumerate(order) if i == 0 or order[i - 1] != e]
            assert len(groups) == len(set(groups)), order


def test_fcfs_pattern_and_batching_saves_loads(session):
    experts, router, trace, routes = session
    fcfs = plan_session(experts, router, trace, "lru", FCFS(), SLOTS, routes=routes)
    kinds = [type(s).__name__ for s in fcfs.steps]
    assert kinds.count("LoadProgram") == 2 * len(trace)  # router, expert for every request
    batch = plan_session(experts, router, trace, "lru", ExpertBatching(8), SLOTS, routes=routes)
    assert batch.program_loads < fcfs.program_loads
    assert batch.switches <= fcfs.switches


def test_reload_programs_loads_before_every_route_and_run(session):
    experts, router, trace, routes = session
    plan = plan_session(experts, router, trace, "lru", ExpertBatching(8), SLOTS, routes=routes,
                        reload_programs=True)
    for index, step in enumerate(plan.steps):
        if isinstance(step, (Route, Run)):
            before = plan.steps[index - 1]
            while isinstance(before, Switch):
                index -= 1
                before = plan.steps[index - 1]
            assert isinstance(before, LoadProgram), f"step {index}: {step} without a load"
            assert before.program == ("router" if isinstance(step, Route) else step.expert)
    assert plan.program_loads == 2 * len(trace)


def test_plan_deterministic(session):
    experts, router, trace, _ = session
    first = plan_session(experts, router, trace, "belady", ExpertBatching(4), SLOTS)
    again = plan_session(experts, router, make_trace(router.checkpoint, 48, seed=3, zipf=1.0),
                         "belady", ExpertBatching(4), SLOTS)
    assert first.to_json() == again.to_json()
    assert first.summary()["requests"] == 48


def test_compare_policies_rows(session):
    experts, router, trace, routes = session
    rows = compare_policies(experts, router, trace, SLOTS, routes=routes)
    assert len(rows) == 8 and {r["scheduler"] for r in rows} == {"fcfs", "batch(W=8)"}
    for scheduler in ("fcfs", "batch(W=8)"):
        mine = {r["policy"]: r for r in rows if r["scheduler"] == scheduler}
        assert mine["belady"]["hit_rate"] == max(r["hit_rate"] for r in mine.values())
        assert all(r["switches"] == r["misses"] for r in mine.values())
    assert "belady" in format_comparison(rows)


def test_plan_errors(session):
    experts, router, trace, routes = session
    with pytest.raises(ExpertTooLarge, match="more than one HBM slot"):
        plan_session(experts, router, trace, "lru", None, SLOTS, routes=routes,
                     slot_bytes=experts[0].nbytes - 2)
    with pytest.raises(DDRFull):
        plan_session(experts, router, trace, "lru", None, SLOTS, routes=routes,
                     ddr_bytes=COUNT * experts[0].nbytes - 1)
    bad = dict(routes)
    bad[3] = replace(routes[3], expert="expert99-nobody")
    with pytest.raises(UnknownExpert, match="request 3 is routed to expert 'expert99-nobody'"):
        plan_session(experts, router, trace, "lru", None, SLOTS, routes=bad)
    stale = dict(routes)
    stale[0] = replace(routes[0], tokens=trace.tokens + 1)
    with pytest.raises(ValueError, match="use Router.route_trace"):
        plan_session(experts, router, trace, "lru", None, SLOTS, routes=stale)
