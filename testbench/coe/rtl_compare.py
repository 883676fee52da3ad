"""Every slot policy under every scheduler on one trace, simulated on the RTL, with the
planner's prediction beside each measured figure.

The trace is made and routed once (golden router); each (scheduler, policy) pair is one
session on the RTL (:func:`~.demo_session.run_session` on that trace and those routes),
every result checked bit-exactly. The sessions are independent points of
:func:`~testbench.farm.sweep.sweep_map`: here, one after the other, or side by side on
the Dask cluster of an enclosing :func:`~testbench.farm.sweep.sweeping_on`.

Measured (``rtl``), per session: the copies the copy engine made (each timed by it) are
the switches and their bytes, those into an occupied slot the evictions, a request whose
first Run has no copy before it a hit; the cycles per phase as ``rdu coe run`` reports
them. Every Route's logits and every Run's outputs are compared with the golden model,
so a Run whose expert had not arrived in its slot shows as a mismatch.

Predicted, from the planner alone (``rdu coe plan``'s
:func:`~.policy_compare.compare_policies` on the same routes, experts sized as their
weight images):

* ``plan_*``: hit rate, switches, evictions and bytes DDR -> HBM, exact: the RTL must
  agree (``plan_agrees``).
* ``predicted_switch_cycles``: the plan's bytes DDR -> HBM at the DDR tier's peak
  bytes per cycle (a floor: a copy never beats the peak).

Calibrated on one measured row, not predicted from the plan (``predicted_total_cycles``,
``predicted_switch_share``): the predicted switch cycles plus, for every request, the
router, program-load and compute cycles per request measured in the reference session
(FCFS with LRU, else the first pair); it assumes the policy and the schedule change
nothing but the switches.
"""

from dataclasses import dataclass
from pathlib import Path

from hdl.rdu.config import RDUParams
from hdl.rdu.tier_params import ddr_peak_bytes_per_cycle
from testbench.compiler.transformer import DecoderShape
from testbench.farm.sweep import sweep_map

from .demo_session import CoERun, run_session
from .machine import CoEMachine, expert_image_bytes
from .plan import Route, Run, Switch
from .policies import POLICIES
from .policy_compare import compare_policies
from .router import DEFAULT_THRESHOLD, load_experts_and_router
from .scheduler import make_scheduler
from .trace import Trace, make_trace

__all__ = ["SCHEDULERS", "COLUMNS", "REFERENCE", "check_pairs", "compare_on_rtl",
           "measured_figures", "reference_row", "other_cycles_per_request",
           "format_rtl_comparison"]

SCHEDULERS = ("fcfs", "batch")
#: the (scheduler, policy) session the calibrated total takes its per-request cycles from
REFERENCE = ("fcfs", "lru")
#: every key of a row
COLUMNS = ("scheduler", "policy", "requests",
           "hits", "hit_rate", "plan_hits", "plan_hit_rate",
           "switches", "plan_switches", "evictions", "plan_evictions",
           "ddr_to_hbm_bytes", "plan_ddr_to_hbm_bytes",
           "switch_cycles", "predicted_switch_cycles",
           "router_cycles", "program_load_cycles", "compute_cycles",
           "total_cycles", "predicted_total_cycles",
           "switch_share", "predicted_switch_share",
           "plan_agrees", "bit_exact", "mismatches", "checked", "wall_seconds")
#: what the RTL must reproduce exactly: (measured key, plan key)
_AGREEING = (("hits", "plan_hits"), ("switches", "plan_switches"),
             ("evictions", "plan_evictions"), ("ddr_to_hbm_bytes", "plan_ddr_to_hbm_bytes"))


def check_pairs(policies, schedulers, *, slots: int, requests: int, max_tokens: int,
                window: int) -> None:
    """ValueError for anything a comparison cannot run with, before anything is loaded."""
    for what, plural, names, known in (("policy", "policies", policies, POLICIES),
                                       ("scheduler", "schedulers", schedulers, SCHEDULERS)):
        if not names:
            raise ValueError(f"no {what} to compare; {plural}: {', '.join(known)}")
        for name in names:
            if name not in known:
                raise ValueError(f"unknown {what} {name!r}; {plural}: {', '.join(known)}")
        if len(set(names)) != len(names):
            raise ValueError(f"a {what} is named twice: {', '.join(names)}")
    for name, value in (("slots", slots), ("requests", requests), ("max_tokens", max_tokens),
                        ("window", window)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, not {value}")


def compare_on_rtl(config: RDUParams, experts_dir: Path, *, shape: DecoderShape,
                   requests: int, trace_seed: int = 1, zipf: float = 1.2, max_tokens: int = 4,
                   new_tokens: int = 1, slots: int = 3, policies=tuple(POLICIES),
                   schedulers=SCHEDULERS,
                   window: int = 8, threshold: float = DEFAULT_THRESHOLD, seed: int = 1,
                   run_name: str = "coe_compare", log=None) -> list[dict]:
    """One row per (scheduler, policy), schedulers outer (:data:`COLUMNS`; see the module
    docstring for which figure is measured and which predicted). Bad input and experts
    that do not fit in HBM or DDR raise before any session starts. ``log(line)`` gets a
    line per finished session when the sessions run here."""
    check_pairs(policies, schedulers, slots=slots, requests=requests, max_tokens=max_tokens,
                window=window)
    experts, router = load_experts_and_router(experts_dir, shape, threshold=threshold,
                                              lanes=config.lanes, pmu_depth=config.pmu_depth)
    trace = make_trace(router.checkpoint, requests, trace_seed, zipf=zipf,
                       tokens=(1, max_tokens), new_tokens=(1, new_tokens))
    routes = router.route_trace(trace)
    # refuses slots or experts that do not fit, here rather than in every session
    CoEMachine(config, router, {e.name: e for e in experts}, trace, slots=slots, shape=shape)
    planned = compare_policies(experts, router, trace, slots, policies=policies,
                               schedulers=[make_scheduler(s, window) for s in schedulers],
                               routes=routes, image_bytes=expert_image_bytes(config, shape),
                               cache_tokens=shape.tokens)
    pairs = [(s, p) for s in schedulers for p in policies]
    points = [_Point(k + 1, len(pairs), config, Path(experts_dir), shape, trace, routes, slots,
                     policy, scheduler, window, threshold, seed,
                     f"{run_name}_{scheduler}_{policy}")
              for k, (scheduler, policy) in enumerate(pairs)]
    measured = sweep_map(_session, points, log=log, describe=session_line)
    rows = [_row(rtl, plan) for rtl, plan in zip(measured, planned, strict=True)]
    _predict_cycles(rows, ddr_peak_bytes_per_cycle(config))
    return rows


@dataclass(frozen=True, repr=False)
class _Point:
    """One session of the comparison (plain data: it may travel to a Dask worker)."""

    index: int
    total: int
    config: RDUParams
    experts_dir: Path
    shape: DecoderShape
    trace: Trace
    routes: dict
    slots: int
    policy: str
    scheduler: str
    window: int
    threshold: float
    seed: int
    run_name: str

    def __repr__(self) -> str:  # a failed point is named in the sweep's error
        return f"<session {self.scheduler} / {self.policy}>"


def _no_log(line: str) -> None:
    pass


def _session(point: _Point, log=_no_log) -> dict:
    """Simulate one pair's session; its measured figures."""
    run = run_session(point.config, point.experts_dir, shape=point.shape, trace=point.trace,
                      routes=point.routes, slots=point.slots, policy=point.policy,
                      scheduler=point.scheduler, window=point.window,
                      threshold=point.threshold, run_name=point.run_name, seed=point.seed)
    figures = measured_figures(run)
    log(session_line(point, figures))
    return figures


def session_line(point: _Point, figures: dict) -> str:
    """The progress line of a finished session."""
    verdict = ("bit-exact" if figures["bit_exact"] else
               f"{figures['mismatches']} of {figures['checked']} results DIFFER")
    return (f"[{point.index}/{point.total}] {figures['scheduler']} / {figures['policy']}: "
            f"{figures['switches']} switches (hit rate {figures['hit_rate']:.0%}), "
            f"{figures['switch_cycles']:,} of {figures['total_cycles']:,} cycles switching, "
            f"{verdict} ({figures['wall_seconds']:.1f} s)")


def measured_figures(run: CoERun) -> dict:
    """What a simulated session did: its copies, hits, cycles per phase and checks."""
    steps, cycles = run.plan.steps, run.cycles
    copies = [s for i, s in enumerate(steps) if isinstance(s, Switch) and cycles[i] > 0]
    # one slot access per request: its first token's Run (later tokens reuse the slot)
    runs = sum(isinstance(s, Run) and s.token == 0 for s in steps)
    phases = run.summary["cycles"]
    hits = runs - len(copies)
    return {"scheduler": run.plan.scheduler, "policy": run.plan.policy, "requests": runs,
            "hits": hits, "hit_rate": hits / runs if runs else 0.0, "switches": len(copies),
            "evictions": sum(s.evicted is not None for s in copies),
            "ddr_to_hbm_bytes": sum(s.nbytes for s in copies),
            "switch_cycles": phases["switch"], "router_cycles": phases["router"],
            "program_load_cycles": phases["program_load"],
            "compute_cycles": phases["compute"], "total_cycles": run.summary["total_cycles"],
            "bit_exact": not run.mismatches, "mismatches": len(run.mismatches),
            "checked": sum(isinstance(s, (Route, Run)) for s in steps),
            "wall_seconds": run.summary["wall_seconds"]["total"]}


def _row(rtl: dict, plan: dict) -> dict:
    if (rtl["scheduler"], rtl["policy"]) != (plan["scheduler"], plan["policy"]):
        raise AssertionError(f"session {rtl['scheduler']}/{rtl['policy']} against the plan "
                             f"of {plan['scheduler']}/{plan['policy']}")
    row = {**rtl, "plan_hits": plan["hits"], "plan_hit_rate": plan["hit_rate"],
           "plan_switches": plan["switches"], "plan_evictions": plan["evictions"],
           "plan_ddr_to_hbm_bytes": plan["ddr_to_hbm_bytes"]}
    row["plan_agrees"] = all(row[got] == row[want] for got, want in _AGREEING)
    return row


def reference_row(rows: list[dict]) -> dict:
    """The row the calibrated total takes its per-request cycles from: FCFS with LRU if
    compared, else the first."""
    return next((r for r in rows if (r["scheduler"], r["policy"]) == REFERENCE), rows[0])


def other_cycles_per_request(row: dict) -> float:
    """Router, program-load and compute cycles per request measured in ``row``."""
    return (row["router_cycles"] + row["program_load_cycles"]
            + row["compute_cycles"]) / row["requests"]


def _predict_cycles(rows: list[dict], peak: float) -> None:
    other = other_cycles_per_request(reference_row(rows))
    for row in rows:
        switch = row["plan_ddr_to_hbm_bytes"] / peak
        total = switch + other * row["requests"]
        row.update(predicted_switch_cycles=round(switch, 1),
                   predicted_total_cycles=round(total, 1),
                   predicted_switch_share=switch / total if total else 0.0,
                   switch_share=(row["switch_cycles"] / row["total_cycles"]
                                 if row["total_cycles"] else 0.0))


def _yes(flag: bool, failed: str = "NO") -> str:
    return "yes" if flag else failed


#: the table: (group title, ((column title, cell of a row), ...)); measured, then predicted
_TABLE = (
    ("", (("scheduler", lambda r: r["scheduler"]), ("policy", lambda r: r["policy"]))),
    ("hit rate", (("rtl", lambda r: f"{r['hit_rate']:.1%}"),
                  ("plan", lambda r: f"{r['plan_hit_rate']:.1%}"))),
    ("switches", (("rtl", lambda r: str(r["switches"])),
                  ("plan", lambda r: str(r["plan_switches"])))),
    ("evictions", (("rtl", lambda r: str(r["evictions"])),
                   ("plan", lambda r: str(r["plan_evictions"])))),
    ("bytes DDR->HBM", (("rtl", lambda r: f"{r['ddr_to_hbm_bytes']:,}"),
                        ("plan", lambda r: f"{r['plan_ddr_to_hbm_bytes']:,}"))),
    ("switch cycles", (("rtl", lambda r: f"{r['switch_cycles']:,}"),
                       ("@peak", lambda r: f"{r['predicted_switch_cycles']:,.0f}"))),
    ("cycles (rtl)", (("router", lambda r: f"{r['router_cycles']:,}"),
                      ("program load", lambda r: f"{r['program_load_cycles']:,}"),
                      ("compute", lambda r: f"{r['compute_cycles']:,}"))),
    ("total cycles", (("rtl", lambda r: f"{r['total_cycles']:,}"),
                      ("model", lambda r: f"{r['predicted_total_cycles']:,.0f}"))),
    ("switch share", (("rtl", lambda r: f"{r['switch_share']:.2%}"),
                      ("model", lambda r: f"{r['predicted_switch_share']:.2%}"))),
    ("checks", (("bit-exact", lambda r: _yes(r["bit_exact"], f"NO ({r['mismatches']})")),
                ("plan = rtl", lambda r: _yes(r["plan_agrees"])))),
)


def format_rtl_comparison(rows: list[dict], peak: float) -> str:
    """The rows as an aligned text table (each measured column beside its prediction),
    then what the predicted columns are and the verdict; ``peak``: the DDR tier's bytes
    per cycle the rows were predicted with."""
    columns = [(title, [cell(r) for r in rows]) for _, group in _TABLE for title, cell in group]
    widths = [max(len(title), *map(len, cells)) for title, cells in columns]
    first, spans = 0, []
    for group, members in _TABLE:
        span = range(first, first + len(members))
        room = sum(widths[i] for i in span) + 2 * (len(members) - 1)
        widths[span[-1]] += max(len(group) - room, 0)  # a long group title widens its last
        spans.append((group, span))
        first += len(members)

    def line(cells) -> str:
        groups = ["  ".join(cells[i].ljust(widths[i]) if i < 2 else cells[i].rjust(widths[i])
                            for i in span) for _, span in spans]
        return "   ".join(groups).rstrip()

    header = "   ".join(group.center(sum(widths[i] for i in span) + 2 * (len(span) - 1))
                        for group, span in spans).rstrip()
    lines = [header, line([title for title, _ in columns])]
    lines += [line([cells[k] for _, cells in columns]) for k in range(len(rows))]
    reference = reference_row(rows)
    exact = all(r["bit_exact"] for r in rows)
    agree = all(r["plan_agrees"] for r in rows)
    lines += [
        "",
        "rtl: measured in the simulated session (the copy engine's copies, cycles per phase);",
        "plan: `rdu coe plan`'s planner on the same routed trace (the RTL must match it).",
        f"@peak: the plan's bytes DDR->HBM at the DDR tier's peak, {peak:.2f} B/cycle "
        f"(a floor).",
        f"model: @peak + requests x {other_cycles_per_request(reference):,.0f} cycles of "
        f"router, program load and compute per request, as measured on "
        f"{reference['scheduler']} / {reference['policy']} (calibrated on that row).",
        (f"all {len(rows)} sessions bit-exact ({reference['checked']} routings and decoder "
         f"steps each)" if exact else
         f"{sum(not r['bit_exact'] for r in rows)} of {len(rows)} sessions DIFFER from the "
         f"golden model") + "; " +
        ("in every row the RTL's hits, switches, evictions and bytes equal the plan's" if agree
         else f"{sum(not r['plan_agrees'] for r in rows)} row(s) DISAGREE with the plan")]
    return "\n".join(lines)
