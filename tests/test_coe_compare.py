"""``rdu coe compare``: every (scheduler, policy) session of one routed trace on the RTL,
bit-exact and switching exactly as planned, beside the planner's prediction; bad input is
one error line before anything is simulated.

The small case (4 experts, 2 slots, 6 requests, LRU and Belady under FCFS and batching)
is simulated once for the module, through the CLI with ``--json``; its trace (seed 5)
plans 6, 5, 4 and 4 switches, so the rows differ.
"""

import io
import json
from contextlib import redirect_stderr, redirect_stdout

import pytest
from coe_common import expert_directory, refused

import testbench.runtime.host_script
from hdl.rdu.config import rdu_params
from hdl.rdu.tier_params import ddr_peak_bytes_per_cycle, memory_tier_params
from memory_ctrl.presets import PRESETS as DRAM_PRESETS
from testbench.cli.main import main
from testbench.coe.router import load_experts_and_router
from testbench.coe.rtl_compare import (
    COLUMNS,
    compare_on_rtl,
    format_rtl_comparison,
    other_cycles_per_request,
)
from testbench.coe.trace import make_trace
from testbench.compiler.transformer import DecoderShape

CONFIG = rdu_params("coe")
#: `rdu coe compare`'s default expert shape
SHAPE = DecoderShape(d_model=8, heads=1, head_dim=4, d_ff=8, tokens=4)
SMALL = ["--slots", "2", "--requests", "6", "--trace-seed", "5", "--policies", "lru,belady",
         "--new-tokens", "2"]


def _decode_steps(experts_dir) -> int:
    """The decode steps of SMALL's trace: a Run per generated token."""
    _, router = load_experts_and_router(experts_dir, SHAPE)
    return sum(r.new_tokens for r in make_trace(router.checkpoint, 6, 5, new_tokens=(1, 2)))


@pytest.fixture(scope="module")
def experts_dir(tmp_path_factory):
    return expert_directory(tmp_path_factory, 4, SHAPE, seed=1)


@pytest.fixture(scope="module")
def compared(experts_dir):
    """``rdu coe compare --json`` on the small case, sessions inline: (exit status, the
    JSON, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(["coe", "compare", "--experts", str(experts_dir), *SMALL, "--json"])
    return status, json.loads(out.getvalue()), err.getvalue()


def _rows(compared) -> dict:
    return {(r["scheduler"], r["policy"]): r for r in compared[1]["rows"]}


def test_every_session_bit_exact_and_as_planned(compared, experts_dir):
    status, data, _ = compared
    steps = _decode_steps(experts_dir)
    assert steps > 6, "some request must generate two tokens"
    assert status == 0 and data["bit_exact"] and data["plan_agrees"]
    assert [(r["scheduler"], r["policy"]) for r in data["rows"]] == [
        ("fcfs", "lru"), ("fcfs", "belady"), ("batch(W=8)", "lru"), ("batch(W=8)", "belady")]
    for row in data["rows"]:
        assert row["bit_exact"] and row["mismatches"] == 0, row
        assert row["checked"] == 6 + steps  # every Route's logits and every Run's outputs
        assert row["plan_agrees"], row
        assert row["switches"] == row["plan_switches"]
        assert row["hit_rate"] == row["plan_hit_rate"]
        assert row["evictions"] == row["plan_evictions"]
        assert row["ddr_to_hbm_bytes"] == row["plan_ddr_to_hbm_bytes"]
        assert row["total_cycles"] == (row["switch_cycles"] + row["router_cycles"]
                                       + row["program_load_cycles"] + row["compute_cycles"])


def test_rows_differ_where_the_plans_differ(compared):
    rows = _rows(compared)
    assert [r["plan_switches"] for r in rows.values()] == [6, 5, 4, 4]
    for scheduler in ("fcfs", "batch(W=8)"):
        assert rows[scheduler, "belady"]["switches"] <= rows[scheduler, "lru"]["switches"]
    assert rows["fcfs", "belady"]["switches"] < rows["fcfs", "lru"]["switches"]
    # A copy this small (one d=8 expert, ~190 cycles) that meets an HBM all-bank refresh
    # waits for it: up to tRFC more. Which copies meet one depends on when they start, so
    # a session with one switch more is slower at switching by a copy, less that wait.
    refresh = DRAM_PRESETS[memory_tier_params(CONFIG)["hbm"].preset].tRFC
    for a in rows.values():
        # the DDR tier's peak is a floor under every session's switching
        assert a["switch_cycles"] >= a["predicted_switch_cycles"] > 0
        for b in rows.values():
            if a["switches"] > b["switches"]:
                assert a["switch_cycles"] + refresh > b["switch_cycles"], (a, b)
                assert a["predicted_switch_cycles"] > b["predicted_switch_cycles"]


def test_json_has_every_column_and_the_model(compared):
    _, data, _ = compared
    for row in data["rows"]:
        assert sorted(row) == sorted(COLUMNS)
    model = data["model"]
    peak = ddr_peak_bytes_per_cycle(CONFIG)
    assert model["ddr_peak_bytes_per_cycle"] == peak
    assert model["reference"] == ["fcfs", "lru"]
    reference = _rows(compared)["fcfs", "lru"]
    assert model["other_cycles_per_request"] == other_cycles_per_request(reference)
    # the calibrated total is exact on its reference row but for the switches' share
    assert reference["predicted_total_cycles"] == pytest.approx(
        reference["total_cycles"] - reference["switch_cycles"]
        + reference["plan_ddr_to_hbm_bytes"] / peak, abs=0.1)
    for row in data["rows"]:
        assert row["predicted_switch_cycles"] == pytest.approx(
            row["plan_ddr_to_hbm_bytes"] / peak, abs=0.05)


def test_progress_line_per_finished_session(compared):
    lines = [line for line in compared[2].splitlines() if line.startswith("[")]
    assert [line.split("]")[0] for line in lines] == ["[1/4", "[2/4", "[3/4", "[4/4"]
    assert lines[0].startswith("[1/4] fcfs / lru: 6 switches (hit rate 0%), ")
    assert all("bit-exact" in line for line in lines)


def test_table_aligns_measured_beside_predicted(compared, experts_dir):
    rows = compared[1]["rows"]
    text = format_rtl_comparison(rows, ddr_peak_bytes_per_cycle(CONFIG))
    lines = text.splitlines()
    groups, titles, *body = lines[:2 + len(rows)]
    for group in ("hit rate", "switches", "bytes DDR->HBM", "switch cycles", "total cycles",
                  "switch share", "checks"):
        assert group in groups
    assert titles.split()[:4] == ["scheduler", "policy", "rtl", "plan"]
    assert "@peak" in titles and "model" in titles
    # every figure right-aligned to the same column edges as its title
    assert len({len(line) for line in [titles, *body]}) == 1
    assert body[0].split()[:6] == ["fcfs", "lru", "0.0%", "0.0%", "6", "6"]
    assert lines[-1].startswith(f"all 4 sessions bit-exact ({6 + _decode_steps(experts_dir)} "
                                f"routings and decoder steps each); in every row the RTL's "
                                f"hits, switches")


# -- bad input, before anything is simulated -------------------------------------------------

class Simulated(Exception):
    """The comparison reached the simulator."""


@pytest.fixture
def no_simulation(monkeypatch):
    def run(self, *args, **kwargs):
        raise Simulated

    monkeypatch.setattr(testbench.runtime.host_script.HostScript, "run", run)


def _refused(argv, capsys) -> str:
    """``rdu coe compare ARGV`` refused with one error line; the message."""
    return refused(["coe", "compare", "--quiet", *argv], capsys)


@pytest.mark.parametrize("argv,message", [
    (["--policies", "lru,mru"], "unknown policy 'mru'; policies: lru, lfu, fifo, belady"),
    (["--policies", "lru,lru"], "a policy is named twice: lru, lru"),
    (["--policies", ","], "no policy to compare; policies: lru, lfu, fifo, belady"),
    (["--schedulers", "fcfs,sjf"], "unknown scheduler 'sjf'; schedulers: fcfs, batch"),
    (["--slots", "0"], "--slots must be at least 1, not 0"),
    (["--requests", "0"], "--requests must be at least 1, not 0"),
    (["--window", "0"], "--window must be at least 1, not 0"),
    (["--scheduler", "batch"], "--scheduler is the address of a Dask scheduler; the request "
                               "schedulers to compare are --schedulers batch"),
    (["--slots", "30"], "30 HBM slots of 1,792 B need 53,760 B, but 44,544 of the 49,152 B "
                        "tensor region of the 65,536-byte HBM are free after the router and "
                        "the scratch buffers: at most 24 slots fit"),
])
def test_bad_input_is_one_line(argv, message, experts_dir, capsys, no_simulation):
    assert _refused(["--experts", str(experts_dir), *argv], capsys) == message


def test_missing_experts_are_not_generated(capsys, tmp_path, no_simulation):
    missing = tmp_path / "none"
    message = _refused(["--experts", str(missing)], capsys)
    assert message.startswith(f"--experts {missing} does not exist; make experts with `rdu "
                              f"coe make-experts --out {missing} --count 16 ")
    assert not missing.exists()


def test_default_directory_is_generated_then_simulated(tmp_path, monkeypatch, no_simulation):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Exception, match="Simulated"):  # the sweep names the failed session
        main(["coe", "compare", "--quiet", "--count", "5", "--policies", "lru"])
    assert len(list((tmp_path / "sim_build/coe/compare_experts").glob("*.safetensors"))) == 6


def test_library_refuses_before_loading(tmp_path):
    for options, message in (({"policies": ("belady", "opt")}, "unknown policy 'opt'"),
                             ({"slots": 0}, "slots must be at least 1, not 0"),
                             ({"schedulers": ()}, "no scheduler to compare")):
        with pytest.raises(ValueError, match=message):
            compare_on_rtl(CONFIG, tmp_path / "none", shape=SHAPE, requests=4, **options)
