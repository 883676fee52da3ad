"""The session report: summary table, JSON and a per-request timeline PNG.

Input: a :class:`~.plan.Plan` and ``cycles``, a dict ``step index -> cycles`` the
execution measured for every step of ``plan.steps``. Phases: ``router`` (Route steps),
``switch`` (Switch), ``program_load`` (every LoadProgram, the router's included),
``compute`` (Run). Steps run
one after another, so a step starts when the previous one ends. Each step is
charged to a request: Route and Run to their own, Switch and LoadProgram to the
request of the next Route or Run (the one they prepare).
"""

import json
import threading
import warnings
from pathlib import Path

from .plan import LoadProgram, Plan, Route, Run, Switch

__all__ = ["PHASES", "DEFAULT_CLOCK_MHZ", "step_phase", "step_requests", "timeline", "summarize",
           "format_table", "write_json", "timeline_png", "import_plotting_meanwhile"]

PHASES = ("router", "switch", "program_load", "compute")
PHASE_COLOURS = {"router": "#4c72b0", "switch": "#dd8452", "program_load": "#8172b3",
                 "compute": "#55a868"}
DEFAULT_CLOCK_MHZ = 1000.0


def step_phase(step) -> str:
    if isinstance(step, Route):
        return "router"
    if isinstance(step, Switch):
        return "switch"
    if isinstance(step, LoadProgram):
        return "program_load"
    if isinstance(step, Run):
        return "compute"
    raise TypeError(f"not a plan step: {step!r}")


def step_requests(plan: Plan) -> list[int]:
    """The request each step is charged to (see the module docstring)."""
    owners: list = [None] * len(plan.steps)
    pending = None
    for index in range(len(plan.steps) - 1, -1, -1):
        step = plan.steps[index]
        if isinstance(step, Route | Run):
            pending = step.request
        if pending is None:
            raise ValueError(f"step {index} ({type(step).__name__}) prepares no request")
        owners[index] = pending
    return owners


def _check_cycles(plan: Plan, cycles: dict) -> list[int]:
    missing = [i for i in range(len(plan.steps)) if i not in cycles]
    if missing:
        raise ValueError(f"no cycle count for {len(missing)} of {len(plan.steps)} steps "
                         f"(first: step {missing[0]})")
    bad = [i for i in range(len(plan.steps)) if int(cycles[i]) < 0]
    if bad:
        raise ValueError(f"negative cycle count for step {bad[0]}")
    return [int(cycles[i]) for i in range(len(plan.steps))]


def timeline(plan: Plan, cycles: dict) -> list[dict]:
    """One segment per step: ``{"step", "request", "phase", "start", "cycles"}``."""
    counts = _check_cycles(plan, cycles)
    owners = step_requests(plan)
    segments, start = [], 0
    for index, step in enumerate(plan.steps):
        segments.append({"step": index, "request": owners[index], "phase": step_phase(step),
                         "start": start, "cycles": counts[index]})
        start += counts[index]
    return segments


def summarize(plan: Plan, cycles: dict, clock_mhz: float = DEFAULT_CLOCK_MHZ) -> dict:
    """Plan counts, bytes per tier, cycles per phase and in total, modeled time, and the
    per-request phase cycles, JSON-ready."""
    if clock_mhz <= 0:
        raise ValueError(f"clock must be positive, not {clock_mhz} MHz")
    segments = timeline(plan, cycles)
    phase_cycles = dict.fromkeys(PHASES, 0)
    per_request: dict = {}
    for segment in segments:
        phase_cycles[segment["phase"]] += segment["cycles"]
        entry = per_request.setdefault(segment["request"], dict.fromkeys(PHASES, 0))
        entry[segment["phase"]] += segment["cycles"]
    total = sum(phase_cycles.values())
    return {**plan.summary(), "cycles": phase_cycles, "total_cycles": total,
            "clock_mhz": clock_mhz, "modeled_seconds": total / (clock_mhz * 1e6),
            "per_request": [{"request": r, **c} for r, c in sorted(per_request.items())]}


def format_table(summary: dict) -> str:
    """The summary as an aligned two-column text table."""
    total = summary["total_cycles"] or 1
    rows = [("policy / scheduler", f"{summary['policy']} / {summary['scheduler']}"),
            ("requests", f"{summary['requests']}"),
            ("hit rate", f"{summary['hit_rate']:.1%} ({summary['hits']} hits, "
                         f"{summary['misses']} misses)"),
            ("switches", f"{summary['switches']} ({summary['evictions']} evictions)"
                         + (f" from {summary['switch_from']}" if "switch_from" in summary
                            else "")),
            ("program loads", f"{summary['program_loads']}"),
            ("router fallbacks", f"{summary['fallbacks']}")]
    sockets = summary.get("sockets", 1)
    if sockets > 1:
        rows.append(("sockets", f"{sockets} (every expert split across them; bytes below "
                                f"are per socket)"))
        if "link_bytes" in summary:
            links = summary["link_bytes"]
            rows.append(("bytes over the links", f"{links['payload']:,} AllReduce data, "
                                                 f"{links['wire']:,} on the wire (all links)"))
    rows += [(f"bytes {tier.replace('_', ' ')}", f"{count:,}")
             for tier, count in summary["bytes"].items()]
    rows += [(f"cycles {phase.replace('_', ' ')}",
              f"{summary['cycles'][phase]:,} ({summary['cycles'][phase] / total:.1%})")
             for phase in PHASES]
    rows += [("cycles total", f"{summary['total_cycles']:,}"),
             (f"modeled time at {summary['clock_mhz']:g} MHz",
              f"{summary['modeled_seconds'] * 1e6:.3f} us")]
    rows += _wall_rows(summary.get("wall_seconds"))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _wall_rows(wall: dict | None) -> list[tuple[str, str]]:
    """Where the session's wall time went (``wall_seconds`` of the summary), if measured."""
    if not wall:
        return []
    rows = [(f"wall {name.replace('_', ' ')}", f"{seconds:.2f} s")
            for name, seconds in wall.items() if isinstance(seconds, float)]
    sim = wall.get("simulation")
    if isinstance(sim, dict):
        seconds = sum(v for k, v in sim.items() if k != "window_cycles_per_second")
        rows += [("wall simulation",
                  f"{seconds:.2f} s: build check {sim['build_check']:.2f}, simulator "
                  f"start/exit {sim['simulator_outside_window']:.2f}, backdoor preload "
                  f"{sim.get('preload', 0.0):.2f}, host program "
                  f"{sim['window']:.2f} ({sim['window_cycles_per_second']:,.0f} cycles/s), "
                  f"other {sim['other']:.2f}")]
    return rows


def write_json(summary: dict, path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return path


def timeline_png(plan: Plan, cycles: dict, path, clock_mhz: float = DEFAULT_CLOCK_MHZ) -> Path:
    """A Gantt chart: one row per request, its phases as coloured bars on the time axis."""
    segments = timeline(plan, cycles)
    with warnings.catch_warnings():
        # matplotlib 3.9 calls pyparsing 3.3 names that pyparsing now flags as deprecated.
        warnings.simplefilter("ignore", DeprecationWarning)
        return _draw(plan, segments, Path(path), clock_mhz)


def _import_plotting():
    """matplotlib (headless) and what :func:`_draw` uses of it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # as in timeline_png
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Patch
    return plt, Patch


def import_plotting_meanwhile() -> threading.Thread:
    """Start importing matplotlib on a background thread (about half a second) so that
    it is done by the time :func:`timeline_png` runs: call it before a simulation, when
    this process mostly waits for the simulator's."""
    thread = threading.Thread(target=_import_plotting, name="import matplotlib", daemon=True)
    thread.start()
    return thread


def _draw(plan: Plan, segments: list, path: Path, clock_mhz: float) -> Path:
    plt, Patch = _import_plotting()

    requests = sorted({s["request"] for s in segments})
    row_of = {request: i for i, request in enumerate(requests)}
    scale = 1.0 / clock_mhz  # cycles -> microseconds
    fig, ax = plt.subplots(figsize=(10, max(2.5, 0.28 * len(requests) + 1.2)))
    for phase in PHASES:
        bars = [(s["start"] * scale, s["cycles"] * scale) for s in segments
                if s["phase"] == phase and s["cycles"]]
        rows = [row_of[s["request"]] for s in segments if s["phase"] == phase and s["cycles"]]
        for row, bar in zip(rows, bars, strict=True):
            ax.broken_barh([bar], (row - 0.4, 0.8), facecolors=PHASE_COLOURS[phase])
    ax.set_yticks(range(len(requests)), [f"req {r}" for r in requests], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(f"modeled time (us at {clock_mhz:g} MHz)")
    ax.set_title(f"CoE session: {plan.policy} / {plan.scheduler}, {plan.requests} requests, "
                 f"hit rate {plan.hit_rate:.0%}")
    ax.legend(handles=[Patch(color=PHASE_COLOURS[p], label=p.replace("_", " "))
                       for p in PHASES], loc="upper left", bbox_to_anchor=(1.0, 1.0),
              fontsize=8)  # beside the axes: requests run top-left to bottom-right
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
