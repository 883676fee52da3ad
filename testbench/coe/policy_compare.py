"""Every slot policy under every scheduler on one trace: hit rate, switches, bytes moved.

The trace is routed once; each (scheduler, policy) pair is then planned on the
same routes, so the rows differ only by the policy and the schedule.
"""

from .plan import plan_session
from .policies import POLICIES
from .scheduler import FCFS, ExpertBatching

__all__ = ["compare_policies", "format_comparison"]


def compare_policies(experts, router, trace, slots: int, *, policies=tuple(POLICIES),
                     schedulers=None, routes: dict | None = None, **plan_options) -> list[dict]:
    """One row per (scheduler, policy): ``policy``, ``scheduler``, ``hits``, ``misses``,
    ``hit_rate``, ``switches``, ``evictions``, ``program_loads``, ``ddr_to_hbm_bytes``.
    ``schedulers`` defaults to FCFS and expert batching with windows of 8."""
    schedulers = schedulers or (FCFS(), ExpertBatching(8))
    if routes is None:
        routes = router.route_trace(trace)
    rows = []
    for scheduler in schedulers:
        for policy in policies:
            plan = plan_session(experts, router, trace, policy, scheduler, slots, routes=routes,
                                **plan_options)
            rows.append({"policy": plan.policy, "scheduler": plan.scheduler, "hits": plan.hits,
                         "misses": plan.misses, "hit_rate": plan.hit_rate,
                         "switches": plan.switches, "evictions": plan.evictions,
                         "program_loads": plan.program_loads,
                         "ddr_to_hbm_bytes": plan.bytes["ddr_to_hbm"]})
    return rows


def format_comparison(rows: list[dict]) -> str:
    """The rows as an aligned text table."""
    header = ("scheduler", "policy", "hit rate", "hits", "switches", "program loads",
              "bytes DDR->HBM")
    lines = [header] + [(r["scheduler"], r["policy"], f"{r['hit_rate']:.1%}", str(r["hits"]),
                         str(r["switches"]), str(r["program_loads"]),
                         f"{r['ddr_to_hbm_bytes']:,}") for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) if i < 2 else cell.rjust(w)
                               for i, (cell, w) in enumerate(zip(line, widths, strict=True)))
                     for line in lines)
