"""CoE report: phase sums from per-step cycles, the timeline PNG, JSON, and the CLI."""

import io
import json
from contextlib import redirect_stdout

import numpy as np
import pytest
from coe_common import expert_directory

from hdl.rdu.config import rdu_params
from testbench.cli.main import main
from testbench.coe.experts import load_experts
from testbench.coe.machine import expert_image_bytes
from testbench.coe.plan import LoadProgram, Route, Run, Switch, plan_session
from testbench.coe.report import (
    PHASES,
    format_table,
    step_requests,
    summarize,
    timeline,
    timeline_png,
    write_json,
)
from testbench.coe.router import load_experts_and_router
from testbench.coe.scheduler import ExpertBatching
from testbench.coe.trace import make_trace
from testbench.compiler.transformer import DecoderShape

SEEDS = [1, 2]
SHAPE = DecoderShape(d_model=16, heads=1, head_dim=4, d_ff=8, tokens=4)
PHASE_OF = {Route: "router", Switch: "switch", LoadProgram: "program_load", Run: "compute"}


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    experts, router = load_experts_and_router(
        expert_directory(tmp_path_factory, 6, SHAPE, seed=2), SHAPE)
    trace = make_trace(router.checkpoint, 20, seed=4)
    return plan_session(experts, router, trace, "lru", ExpertBatching(4), 2)


def _cycles(plan, seed) -> dict:
    rng = np.random.default_rng(seed)
    return {i: int(rng.integers(0, 5000)) for i in range(len(plan.steps))}


def test_summary_adds_up(plan, seed):
    cycles = _cycles(plan, seed)
    summary = summarize(plan, cycles, clock_mhz=800.0)
    for phase in PHASES:
        assert summary["cycles"][phase] == sum(
            cycles[i] for i, s in enumerate(plan.steps) if PHASE_OF[type(s)] == phase)
    assert summary["total_cycles"] == sum(cycles.values())
    assert summary["modeled_seconds"] == pytest.approx(sum(cycles.values()) / 800e6)
    assert sum(sum(r[p] for p in PHASES) for r in summary["per_request"]) == sum(cycles.values())
    assert [r["request"] for r in summary["per_request"]] == list(range(20))
    assert summary["hits"] + summary["misses"] == 20
    table = format_table(summary)
    assert "hit rate" in table and f"{summary['total_cycles']:,}" in table


def test_steps_charged_to_the_request_they_prepare(plan):
    owners = step_requests(plan)
    for index, step in enumerate(plan.steps):
        if isinstance(step, Route | Run):
            assert owners[index] == step.request
        else:
            following = next(s for s in plan.steps[index + 1:] if isinstance(s, Route | Run))
            assert owners[index] == following.request


def test_timeline_contiguous_and_cycles_required(plan):
    cycles = _cycles(plan, 3)
    segments = timeline(plan, cycles)
    assert segments[0]["start"] == 0
    for before, after in zip(segments, segments[1:], strict=False):
        assert after["start"] == before["start"] + before["cycles"]
    del cycles[5]
    with pytest.raises(ValueError, match="first: step 5"):
        summarize(plan, cycles)
    with pytest.raises(ValueError, match="negative"):
        summarize(plan, {**_cycles(plan, 3), 2: -1})


def test_png_and_json_written(plan, tmp_path):
    cycles = _cycles(plan, 1)
    png = timeline_png(plan, cycles, tmp_path / "timeline.png")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    summary = summarize(plan, cycles)
    assert json.loads(write_json(summary, tmp_path / "s.json").read_text()) == json.loads(
        json.dumps(summary))


def _rdu(*argv) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        status = main(list(argv))
    return status, out.getvalue()


def test_cli_make_experts_and_plan(tmp_path, capsys):
    status, _ = _rdu("coe", "make-experts", "--out", str(tmp_path), "--count", "6", "--d",
                     "16", "--heads", "1", "--head-dim", "4", "--f", "8", "--seed", "3",
                     "--quiet")
    assert status == 0 and len(load_experts(tmp_path, SHAPE)) == 6
    status, out = _rdu("coe", "plan", "--experts", str(tmp_path), "--d", "16", "--heads", "1",
                       "--head-dim", "4", "--f", "8", "--requests", "24", "--slots", "2",
                       "--scheduler", "batch", "--json", "--quiet", "--steps")
    assert status == 0
    data = json.loads(out)
    assert data["plan"]["requests"] == 24 and data["plan"]["scheduler"] == "batch(W=8)"
    assert len(data["plan"]["step_list"]) == data["plan"]["steps"]
    assert len(data["comparison"]) == 8
    # slots hold weight images as `rdu coe run` copies them (rotated weights included)
    experts = load_experts(tmp_path, SHAPE)
    image = expert_image_bytes(rdu_params("coe"), SHAPE)
    assert data["plan"]["slot_bytes"] == image > experts[0].nbytes
    switches = sum(step["kind"] == "Switch" for step in data["plan"]["step_list"])
    assert data["plan"]["bytes"]["ddr_to_hbm"] == switches * image > 0
    status, _ = _rdu("coe", "plan", "--experts", str(tmp_path), "--d", "16", "--heads", "1",
                     "--head-dim", "4", "--f", "32")
    assert status == 2 and "tensor 'w1' has shape [16, 8], expected [16, 32]" in (
        capsys.readouterr().err)
