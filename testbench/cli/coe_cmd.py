"""``rdu coe``: Composition-of-Experts checkpoints, session plans and simulated sessions.

``rdu coe make-experts`` writes expert checkpoints and the router checkpoint;
``rdu coe plan`` loads them, generates a Zipf-skewed request trace, plans the
session (routes from the golden router, HBM switches, program loads, runs) and
prints its summary and the hit rate / switches / bytes of every slot policy under
FCFS and expert batching (nothing simulated). ``rdu coe run`` plans a session and
runs it on the RTL (RDU preset ``coe``: the tile in front of HBM and DDR with the
copy engine): every routing and every expert output is checked bit-exactly, and the
summary, ``summary.json`` and ``timeline.png`` report the cycles per phase.
"""

import argparse
from pathlib import Path

from ..coe.errors import CoEError
from ..coe.experts import DEFAULT_CATEGORIES, ROUTER_FILE, load_experts, load_router, make_experts
from ..coe.plan import plan_session, step_kind
from ..coe.policies import POLICIES
from ..coe.policy_compare import compare_policies, format_comparison
from ..coe.router import DEFAULT_THRESHOLD, Router
from ..coe.scheduler import make_scheduler
from ..coe.trace import make_trace
from .output import CommandError, emit, progress


def register(sub):
    p = sub.add_parser("coe", help="Composition of Experts: expert checkpoints, session plans",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="coe_action", required=True, metavar="ACTION")
    m = actions.add_parser("make-experts", help="write expert and router checkpoints",
                           description="Deterministic from --seed: COUNT SwiGLU experts "
                                       "(w1, w3 bf16 [D, F]) and router.safetensors (bf16 [D, "
                                       "COUNT]); expert 0 is the general (fallback) expert.")
    m.add_argument("--out", type=Path, required=True, help="directory to write into")
    m.add_argument("--count", type=int, default=16, help="number of experts (default 16)")
    m.add_argument("--d", type=int, default=32, help="model width d (default 32)")
    m.add_argument("--f", type=int, default=32, help="feed-forward width f (default 32)")
    m.add_argument("--categories", default=",".join(DEFAULT_CATEGORIES),
                   help="comma-separated category names besides 'general'")
    m.add_argument("--seed", type=int, default=1)
    pl = actions.add_parser("plan", help="plan a session and compare the slot policies",
                            description="Route a Zipf trace with the golden router, plan every "
                                        "step, print the plan summary and the comparison of "
                                        "LRU, LFU, FIFO, Belady under FCFS and batching.")
    pl.add_argument("--experts", type=Path, required=True,
                    help="directory written by `rdu coe make-experts`")
    pl.add_argument("--d", type=int, default=32, help="model width the experts must have")
    pl.add_argument("--f", type=int, default=32, help="feed-forward width the experts must have")
    pl.add_argument("--requests", type=int, default=64)
    pl.add_argument("--trace-seed", type=int, default=1)
    pl.add_argument("--zipf", type=float, default=1.2, help="popularity skew (default 1.2)")
    pl.add_argument("--max-tokens", type=int, default=8, help="tokens per request: 1..this")
    pl.add_argument("--slots", type=int, default=4, help="HBM expert slots (default 4)")
    pl.add_argument("--policy", default="lru", choices=sorted(POLICIES))
    pl.add_argument("--scheduler", default="fcfs", choices=("fcfs", "batch"))
    pl.add_argument("--window", type=int, default=8, help="batching window (default 8)")
    pl.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                    help="router confidence below which the general expert serves")
    pl.add_argument("--steps", action="store_true", help="also list every step")
    r = actions.add_parser("run", help="simulate a CoE session on the RDU",
                           description="Plan a session (as `plan`) and run it on the RTL of "
                                       "the RDU with HBM, DDR and the copy engine; check every "
                                       "result against the golden model; write summary.json "
                                       "and timeline.png to --out. Experts missing from "
                                       "--experts are generated first (make-experts, --count, "
                                       "--expert-seed).",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    r.set_defaults(**RUN_DEFAULTS)
    r.add_argument("--experts", type=Path,
                   help="checkpoint directory")
    r.add_argument("--out", type=Path,
                   help="where summary.json and timeline.png go")
    r.add_argument("--count", type=int, help="experts to generate if there are none")
    r.add_argument("--expert-seed", type=int)
    r.add_argument("--d", type=int, help="model width")
    r.add_argument("--f", type=int, help="feed-forward width")
    r.add_argument("--requests", type=int)
    r.add_argument("--trace-seed", type=int)
    r.add_argument("--zipf", type=float)
    r.add_argument("--max-tokens", type=int, help="tokens per request: 1..this")
    r.add_argument("--slots", type=int, help="HBM expert slots")
    r.add_argument("--policy", choices=sorted(POLICIES))
    r.add_argument("--scheduler", choices=("fcfs", "batch"))
    r.add_argument("--window", type=int)
    r.add_argument("--threshold", type=float)
    r.add_argument("--clock-mhz", type=float,
                   help="clock (MHz) for the modeled time")
    r.add_argument("--seed", type=int, help="simulation seed")
    r.add_argument("--waves", action="store_true", help="dump a waveform")
    for action in (m, pl, r):
        action.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                            help="print machine-readable JSON on stdout")
        action.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS,
                            help="no progress lines on stderr")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    try:
        if args.coe_action == "make-experts":
            return _make_experts(args)
        if args.coe_action == "run":
            return _run(args)
        return _plan(args)
    except (CoEError, ValueError) as error:
        raise CommandError(str(error)) from None


def _make_experts(args) -> int:
    categories = [c.strip() for c in args.categories.split(",") if c.strip()]
    paths = make_experts(args.out, args.count, args.d, args.f, categories, args.seed)
    data = {"directory": str(args.out), "experts": [str(p) for p in paths],
            "router": str(args.out / ROUTER_FILE), "d": args.d, "f": args.f, "seed": args.seed}
    emit(args, data, f"wrote {len(paths)} experts (d={args.d}, f={args.f}) and {ROUTER_FILE} "
                     f"to {args.out}")
    return 0


def _plan(args) -> int:
    if args.requests < 1 or args.slots < 1 or args.max_tokens < 1:
        raise CommandError("--requests, --slots and --max-tokens must be positive")
    experts = load_experts(args.experts, args.d, args.f)
    router = Router(load_router(args.experts / ROUTER_FILE, args.d), experts,
                    threshold=args.threshold)
    trace = make_trace(router.checkpoint, args.requests, args.trace_seed, zipf=args.zipf,
                       tokens=(1, args.max_tokens))
    progress(args, f"routing {len(trace)} requests over {len(experts)} experts")
    routes = router.route_trace(trace)
    plan = plan_session(experts, router, trace, args.policy,
                        make_scheduler(args.scheduler, args.window), args.slots, routes=routes)
    rows = compare_policies(experts, router, trace, args.slots, routes=routes,
                            schedulers=(make_scheduler("fcfs"),
                                        make_scheduler("batch", args.window)))
    data = {"plan": plan.to_json() if args.steps else plan.summary(), "comparison": rows}
    summary = plan.summary()
    lines = [f"{key:<17} {value}" for key, value in summary.items() if key != "bytes"]
    lines += [f"{'bytes ' + tier:<17} {count:,}" for tier, count in summary["bytes"].items()]
    if args.steps:
        lines += [""] + [f"{i:4d} {step_kind(s):<11} {s}" for i, s in enumerate(plan.steps)]
    lines += ["", format_comparison(rows)]
    emit(args, data, "\n".join(lines))
    return 0


RUN_DEFAULTS = {"experts": Path("sim_build/coe/experts"), "out": Path("sim_build/coe"),
                "count": 6, "expert_seed": 1, "d": 16, "f": 16, "requests": 12,
                "trace_seed": 1, "zipf": 1.2, "max_tokens": 4, "slots": 2, "policy": "lru",
                "scheduler": "fcfs", "window": 8, "threshold": DEFAULT_THRESHOLD,
                "clock_mhz": 1000.0, "seed": 1, "waves": False}


def simulate_session(options, log) -> tuple[dict, str, bool]:
    """Run ``rdu coe run`` with ``options`` (an object with the RUN_DEFAULTS attributes):
    (summary, text, every result bit-exact)."""
    from hdl.rdu.config import rdu_config

    from ..coe.demo_session import run_session
    from ..coe.report import format_table, timeline_png, write_json

    o = options
    if min(o.requests, o.slots, o.max_tokens, o.count) < 1:
        raise CommandError("--requests, --slots, --max-tokens and --count must be positive")
    if not any(Path(o.experts).glob("*.safetensors")):
        log(f"no checkpoints in {o.experts}: writing {o.count} experts "
            f"(d={o.d}, f={o.f}, seed {o.expert_seed})")
        make_experts(o.experts, o.count, o.d, o.f, seed=o.expert_seed)
    log(f"CoE session: {o.requests} requests over the experts in {o.experts}, simulated on "
        f"the RDU (preset coe: HBM, DDR, copy engine; {o.slots} HBM slots, {o.policy}, "
        f"{o.scheduler})")
    result = run_session(rdu_config("coe"), Path(o.experts), d=o.d, f=o.f,
                         requests=o.requests, trace_seed=o.trace_seed, zipf=o.zipf,
                         max_tokens=o.max_tokens, slots=o.slots, policy=o.policy,
                         scheduler=o.scheduler, window=o.window, threshold=o.threshold,
                         clock_mhz=o.clock_mhz, seed=o.seed, waves=o.waves)
    out = Path(o.out)
    out.mkdir(parents=True, exist_ok=True)
    checked = sum(step_kind(s) in ("Route", "Run") for s in result.plan.steps)
    summary = {**result.summary, "checked": checked,
               "mismatches": [vars(m) for m in result.mismatches]}
    json_path = write_json(summary, out / "summary.json")
    png_path = timeline_png(result.plan, result.cycles, out / "timeline.png", o.clock_mhz)
    verdict = (f"all {checked} routings and expert outputs bit-exact against the golden model"
               if not result.mismatches else
               f"{len(result.mismatches)} of {checked} results DIFFER from the golden model: "
               + "; ".join(f"step {m.step} {m.what}: {m.differing}/{m.total} words"
                           for m in result.mismatches[:5]))
    text = f"{format_table(result.summary)}\n\n{verdict}\nwrote {json_path} and {png_path}"
    return summary, text, not result.mismatches


def _run(args) -> int:
    summary, text, ok = simulate_session(args, lambda message: progress(args, message))
    emit(args, summary, text)
    return 0 if ok else 1
