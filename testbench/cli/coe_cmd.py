"""``rdu coe``: Composition-of-Experts checkpoints, session plans and simulated sessions.

Every expert is a small Llama-style decoder layer (the same architecture, its own
weights and a category label; ``--d``, ``--heads``, ``--head-dim``, ``--f``) and every
request one decode step of its own sequence against a K/V cache of ``--cache-tokens``
tokens. ``rdu coe make-experts`` writes expert checkpoints and the router checkpoint;
``rdu coe plan`` loads them, generates a Zipf-skewed request trace, plans the
session (routes from the golden router, HBM switches, program loads, runs) and
prints its summary and the hit rate / switches / bytes of every slot policy under
FCFS and expert batching (nothing simulated). ``rdu coe run`` plans a session and
runs it on the RTL (RDU preset ``coe``: the tile in front of HBM and DDR with the
copy engine): every routing and every expert output is checked bit-exactly, and the
summary, ``summary.json`` and ``timeline.png`` report the cycles per phase. While the
simulator runs, stderr shows requests done / total, the current expert and the hit rate so
far (one line redrawn in place on a terminal, else a line per request). ``--switch-from host``
is the host-link baseline: every switch writes the expert from host memory over the
host port, throttled to a link rate (``--host-gbps`` scaled against ``--node-gbps``).
``rdu coe compare`` runs every slot policy under both schedulers as sessions on the RTL,
one trace routed once, and prints the measured hit rate, switches and cycles per phase
beside the planner's prediction (``--scheduler``/``--cluster`` spread the sessions over
a Dask cluster).
"""

import argparse
import sys
from pathlib import Path

from ..coe.errors import CoEError
from ..coe.experts import DEFAULT_CATEGORIES, ROUTER_FILE, make_experts
from ..coe.plan import plan_session, step_kind
from ..coe.policies import POLICIES
from ..coe.policy_compare import compare_policies, format_comparison
from ..coe.progress import SessionProgress
from ..coe.router import DEFAULT_THRESHOLD, load_experts_and_router
from ..coe.scheduler import make_scheduler
from ..coe.trace import make_trace
from ..compiler.transformer import DecoderShape
from ..runtime.memory_map import OutOfDeviceMemory
from .cluster_options import add_cluster_options, cluster_spec
from .output import CommandError, add_output_options, emit, progress
from .params import add_param_option, parse_params


def register(sub):
    p = sub.add_parser("coe", help="Composition of Experts: expert checkpoints, session plans",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="coe_action", required=True, metavar="ACTION")
    m = actions.add_parser("make-experts", help="write expert and router checkpoints",
                           description="Deterministic from --seed: COUNT decoder-layer "
                                       "experts (norm gains, per-head wq/wk/wv/wo, w1/w3/w2) "
                                       "and router.safetensors (bf16 [D, COUNT]); expert 0 "
                                       "is the general (fallback) expert.")
    m.add_argument("--out", type=Path, required=True, help="directory to write into")
    m.add_argument("--count", type=int, default=16, help="number of experts (default 16)")
    _shape_arguments(m, defaults=True)
    m.add_argument("--categories", default=",".join(DEFAULT_CATEGORIES),
                   help="comma-separated category names besides 'general'")
    m.add_argument("--seed", type=int, default=1)
    pl = actions.add_parser("plan", help="plan a session and compare the slot policies",
                            description="Route a Zipf trace with the golden router, plan every "
                                        "step, print the plan summary and the comparison of "
                                        "LRU, LFU, FIFO, Belady under FCFS and batching.")
    pl.add_argument("--experts", type=Path, required=True,
                    help="directory written by `rdu coe make-experts`")
    _shape_arguments(pl, defaults=True)
    _rdu_arguments(pl)
    pl.add_argument("--cache-tokens", type=int, default=RUN_DEFAULTS["cache_tokens"],
                    help="K/V cache length of every request (byte counts only)")
    pl.add_argument("--requests", type=int, default=64)
    pl.add_argument("--trace-seed", type=int, default=1)
    pl.add_argument("--zipf", type=float, default=1.2, help="popularity skew (default 1.2)")
    pl.add_argument("--max-tokens", type=int, default=8, help="tokens per request: 1..this")
    pl.add_argument("--new-tokens", type=int, default=1,
                    help="tokens each request generates: 1..this (default 1)")
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
                                       "and timeline.png to --out. Without --experts the "
                                       "default directory is used and, on first use, "
                                       "generated (--count experts of the shape options, "
                                       "--expert-seed); a directory named with --experts must "
                                       "hold checkpoints (`rdu coe make-experts --out DIR`) "
                                       "unless --make-experts is given.",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    r.set_defaults(**RUN_DEFAULTS)
    r.add_argument("--experts", type=Path,
                   help="checkpoint directory (the default one is generated on first use)")
    r.add_argument("--make-experts", action="store_true",
                   help="generate experts (--count, --expert-seed) into --experts if it holds "
                        "no checkpoints")
    r.add_argument("--out", type=Path,
                   help="where summary.json and timeline.png go")
    r.add_argument("--count", type=int,
                   help="experts to generate (default directory, or --make-experts)")
    r.add_argument("--expert-seed", type=int, help="seed of generated experts")
    _shape_arguments(r, defaults=False)
    _rdu_arguments(r)
    r.add_argument("--cache-tokens", type=int,
                   help="cached tokens each request's decode step attends to")
    r.add_argument("--requests", type=int)
    r.add_argument("--trace-seed", type=int)
    r.add_argument("--zipf", type=float)
    r.add_argument("--max-tokens", type=int, help="tokens per request: 1..this")
    r.add_argument("--new-tokens", type=int,
                   help="tokens each request generates, one decode step each: 1..this")
    r.add_argument("--slots", type=int, help="HBM expert slots")
    r.add_argument("--policy", choices=sorted(POLICIES))
    r.add_argument("--scheduler", choices=("fcfs", "batch"))
    r.add_argument("--window", type=int)
    r.add_argument("--threshold", type=float)
    r.add_argument("--clock-mhz", type=float,
                   help="clock (MHz) for the modeled time")
    r.add_argument("--switch-from", choices=("ddr", "host"),
                   help="where a switch takes the expert from: DDR by the copy engine, or "
                        "host memory over the host port throttled to --host-gbps (baseline)")
    r.add_argument("--host-gbps", type=float,
                   help="host link bandwidth (GB/s) for --switch-from host")
    r.add_argument("--node-gbps", type=float,
                   help="the DDR -> HBM bandwidth the model's DDR-tier peak stands for: the "
                        "host link runs at DDR peak x host-gbps / node-gbps bytes per cycle "
                        "(the SN40L paper's ~1 TB/s per node)")
    r.add_argument("--orchestration", choices=("hardware", "software"),
                   help="a Route's or Run's kernels as one AGCU schedule (hardware), or "
                        "every Program Load and launch from the host (software)")
    r.add_argument("--sockets", type=int,
                   help="sockets in a ring, every expert split across them (default 1)")
    r.add_argument("--seed", type=int, help="simulation seed")
    r.add_argument("--waves", action="store_true", help="dump a waveform")
    c = _compare_parser(actions)
    for action in (m, pl, r, c):
        add_output_options(action, suppress=True)
    p.set_defaults(run=run)
    return p


def _shape_arguments(parser, defaults: bool) -> None:
    """The experts' decoder shape options (with their defaults shown, or set elsewhere)."""
    def default(name):  # argument defaults would override the run parser's set_defaults
        return {"default": RUN_DEFAULTS[name]} if defaults else {}

    parser.add_argument("--d", type=int, help="model width d", **default("d"))
    parser.add_argument("--heads", type=int, help="attention heads", **default("heads"))
    parser.add_argument("--head-dim", type=int, help="head width (even)", **default("head_dim"))
    parser.add_argument("--f", type=int, help="feed-forward width d_ff", **default("f"))


def _rdu_arguments(parser) -> None:
    """The RDU the experts run on: a preset with memory tiers, and parameter overrides."""
    parser.add_argument("--preset", default="coe",
                        help="RDU preset with HBM and DDR tiers (default coe; sn40l: the "
                             "balanced 4x4 tile)")
    add_param_option(parser, "an RDU parameter of the preset, e.g. -p memory_bytes=1048576")


def coe_rdu(options):
    """The :class:`~hdl.rdu.config.RDUParams` of ``--preset`` and ``-p`` (CommandError if it
    is unknown, invalid or has no memory tiers)."""
    from hdl.rdu.config import rdu_params

    preset = getattr(options, "preset", "coe")
    try:
        config = rdu_params(preset, **parse_params(getattr(options, "param", [])))
    except (ValueError, TypeError) as error:
        raise CommandError(f"--preset {preset}: {error}") from None
    if config.memory != "tiers":
        raise CommandError(f"--preset {preset} has memory={config.memory!r}; a CoE session "
                           f"needs the HBM and DDR tiers (memory='tiers', e.g. preset coe)")
    return config


def decoder_shape(options, cache_tokens: int | None = None) -> DecoderShape:
    """The experts' :class:`DecoderShape` from the shape options (``tokens``: the cache
    length, ``options.cache_tokens`` unless given)."""
    tokens = options.cache_tokens if cache_tokens is None else cache_tokens
    return DecoderShape(d_model=options.d, heads=options.heads, head_dim=options.head_dim,
                        d_ff=options.f, tokens=tokens)


def run(args) -> int:
    try:
        if args.coe_action == "make-experts":
            return _make_experts(args)
        if args.coe_action == "run":
            return _run(args)
        if args.coe_action == "compare":
            return _compare(args)
        return _plan(args)
    except (CoEError, ValueError, OutOfDeviceMemory) as error:
        raise _input_error(error) from None


def _input_error(error: Exception) -> CommandError:
    """``error`` as the CLI's one-line input error."""
    return CommandError(" ".join(str(error).split()))


def _make_experts(args) -> int:
    categories = [c.strip() for c in args.categories.split(",") if c.strip()]
    shape = decoder_shape(args, cache_tokens=1)
    paths = make_experts(args.out, args.count, shape, categories, args.seed)
    data = {"directory": str(args.out), "experts": [str(p) for p in paths],
            "router": str(args.out / ROUTER_FILE), "d": args.d, "heads": args.heads,
            "head_dim": args.head_dim, "f": args.f, "seed": args.seed}
    emit(args, data, f"wrote {len(paths)} decoder-layer experts (d={args.d}, {args.heads} "
                     f"head(s) of {args.head_dim}, d_ff={args.f}) and {ROUTER_FILE} to "
                     f"{args.out}")
    return 0


def _plan(args) -> int:
    from ..coe.machine import expert_image_bytes

    if min(args.requests, args.slots, args.max_tokens, args.new_tokens) < 1:
        raise CommandError("--requests, --slots, --max-tokens and --new-tokens must be positive")
    shape = decoder_shape(args)
    experts, router = load_experts_and_router(args.experts, shape, threshold=args.threshold)
    trace = make_trace(router.checkpoint, args.requests, args.trace_seed, zipf=args.zipf,
                       tokens=(1, args.max_tokens), new_tokens=(1, args.new_tokens))
    progress(args, f"routing {len(trace)} requests over {len(experts)} experts")
    routes = router.route_trace(trace)
    # Experts as `rdu coe run` holds them: weight images on the CoE RDU, not checkpoints.
    image_bytes = expert_image_bytes(coe_rdu(args), shape)
    plan = plan_session(experts, router, trace, args.policy,
                        make_scheduler(args.scheduler, args.window), args.slots, routes=routes,
                        cache_tokens=shape.tokens, image_bytes=image_bytes)
    rows = compare_policies(experts, router, trace, args.slots, routes=routes,
                            schedulers=(make_scheduler("fcfs"),
                                        make_scheduler("batch", args.window)),
                            image_bytes=image_bytes)
    data = {"plan": plan.to_json() if args.steps else plan.summary(), "comparison": rows}
    summary = plan.summary()
    lines = [f"{key:<17} {value}" for key, value in summary.items() if key != "bytes"]
    lines += [f"{'bytes ' + tier:<17} {count:,}" for tier, count in summary["bytes"].items()]
    if args.steps:
        lines += [""] + [f"{i:4d} {step_kind(s):<11} {s}" for i, s in enumerate(plan.steps)]
    lines += ["", format_comparison(rows)]
    emit(args, data, "\n".join(lines))
    return 0


#: the SN40L paper's DDR -> HBM bandwidth of an 8-socket node, GB/s
NODE_DDR_TO_HBM_GBPS = 1000.0

RUN_DEFAULTS = {"experts": Path("sim_build/coe/decoder_experts"), "out": Path("sim_build/coe"),
                "make_experts": False, "count": 4, "expert_seed": 1, "d": 8, "heads": 1,
                "head_dim": 4, "f": 8, "cache_tokens": 4, "requests": 4,
                "trace_seed": 1, "zipf": 1.2, "max_tokens": 4, "new_tokens": 1, "slots": 2,
                "policy": "lru",
                "scheduler": "fcfs", "window": 8, "threshold": DEFAULT_THRESHOLD,
                "clock_mhz": 1000.0, "seed": 1, "waves": False, "switch_from": "ddr",
                "host_gbps": 64.0, "node_gbps": NODE_DDR_TO_HBM_GBPS,
                "orchestration": "hardware", "sockets": 1}


def host_link_rate(host_gbps: float, node_gbps: float = NODE_DDR_TO_HBM_GBPS,
                   config=None) -> float:
    """Bytes per RDU cycle of the host link, scaled so that the DDR-tier peak of ``config``
    (default: preset coe) stands for ``node_gbps``: ``DDR peak x host_gbps / node_gbps``."""
    from hdl.rdu.config import rdu_params
    from hdl.rdu.tier_params import ddr_peak_bytes_per_cycle

    if host_gbps <= 0 or node_gbps <= 0:
        raise CommandError("--host-gbps and --node-gbps must be positive")
    peak = ddr_peak_bytes_per_cycle(config or rdu_params("coe"))
    return peak * host_gbps / node_gbps


def experts_ready(o, shape: DecoderShape, log) -> None:
    """Generate experts into ``o.experts`` if it holds none and that was asked for (the
    default directory, or ``--make-experts``); CommandError if it holds none otherwise."""
    from ..coe.machine import check_ddr_holds, expert_image_bytes

    directory = Path(o.experts)
    if directory.exists() and not directory.is_dir():
        raise CommandError(f"--experts {directory} is a file, not a checkpoint directory")
    if any(directory.glob("*.safetensors")):
        return
    if not (o.make_experts or directory == RUN_DEFAULTS["experts"]):
        state = "does not exist" if not directory.exists() else "holds no checkpoints"
        raise CommandError(
            f"--experts {directory} {state}; make experts with `rdu coe make-experts --out "
            f"{directory} --count {o.count} --d {o.d} --heads {o.heads} --head-dim "
            f"{o.head_dim} --f {o.f}`, or add --make-experts to generate them there")
    config = coe_rdu(o)
    # split across sockets, each holds about 1/sockets of every expert (at least that)
    image = -(-expert_image_bytes(config, shape) // getattr(o, "sockets", 1))
    check_ddr_holds(o.count, image, config.ddr_bytes)
    log(f"no checkpoints in {directory}: writing {o.count} decoder-layer experts "
        f"(d={o.d}, {o.heads} head(s) of {o.head_dim}, d_ff={o.f}, seed {o.expert_seed})")
    make_experts(directory, o.count, shape, seed=o.expert_seed)


def simulate_session(options, log, run_name: str = "coe_session",
                     live=None) -> tuple[dict, str, bool]:
    """Run ``rdu coe run`` with ``options`` (an object with the RUN_DEFAULTS attributes):
    (summary, text, every result bit-exact). While the simulator runs, a status per
    finished request goes to ``log``, or with ``live`` (a terminal stream) one status
    line is redrawn there (:class:`~testbench.coe.progress.SessionProgress`)."""
    from ..coe.demo_session import run_session
    from ..coe.report import format_table, import_plotting_meanwhile, timeline_png, write_json

    o = options
    sockets = getattr(o, "sockets", 1)
    new_tokens = getattr(o, "new_tokens", 1)
    if min(o.requests, o.slots, o.max_tokens, o.count, sockets, new_tokens) < 1:
        raise CommandError("--requests, --slots, --max-tokens, --new-tokens, --count and "
                           "--sockets must be positive")
    if sockets > 1 and o.switch_from == "host":
        raise CommandError("--switch-from host is the single-socket baseline; experts split "
                           "across sockets switch from DDR")
    shape = decoder_shape(o)
    config = coe_rdu(o)
    experts_ready(o, shape, log)
    overrides = "".join(f" -p {pair}" for pair in getattr(o, "param", []))
    steps = (f"{o.requests} decode steps" if new_tokens == 1 else
             f"{o.requests} requests of 1..{new_tokens} decode steps")
    log(f"CoE session: {steps} ({shape.tokens} cached tokens each) over "
        f"the experts in {o.experts}, simulated on "
        f"the RDU (preset {getattr(o, 'preset', 'coe')}{overrides}: HBM, DDR, copy engine; "
        f"{o.slots} HBM slots, {o.policy}, {o.scheduler})")
    host_rate = None
    if o.switch_from == "host":
        host_rate = host_link_rate(o.host_gbps, o.node_gbps, config)
        log(f"switches from host memory over the host port at {host_rate:.3f} bytes/cycle "
            f"(scaled: the DDR-tier peak stands for {o.node_gbps:g} GB/s, so a "
            f"{o.host_gbps:g} GB/s link gets DDR peak x {o.host_gbps:g}/{o.node_gbps:g})")
    status = SessionProgress(log, live)
    try:
        result = run_session(config, Path(o.experts), shape=shape,
                             requests=o.requests, trace_seed=o.trace_seed, zipf=o.zipf,
                             max_tokens=o.max_tokens, new_tokens=new_tokens,
                             slots=o.slots, policy=o.policy,
                             scheduler=o.scheduler, window=o.window, threshold=o.threshold,
                             clock_mhz=o.clock_mhz, seed=o.seed, waves=o.waves,
                             switch_from=o.switch_from, host_bytes_per_cycle=host_rate,
                             progress=status, run_name=run_name,
                             orchestration=getattr(o, "orchestration", "hardware"),
                             sockets=sockets, while_simulating=import_plotting_meanwhile)
    except (CoEError, OutOfDeviceMemory) as error:  # raised before the simulation starts
        raise _input_error(error) from None
    finally:
        status.close()
    out = Path(o.out)
    out.mkdir(parents=True, exist_ok=True)
    checked = sum(step_kind(s) in ("Route", "Run") for s in result.plan.steps)
    summary = {**result.summary, "checked": checked,
               "rdu": {"preset": getattr(o, "preset", "coe"),
                       "params": parse_params(getattr(o, "param", []))},
               "mismatches": [vars(m) for m in result.mismatches]}
    json_path = write_json(summary, out / "summary.json")
    png_path = timeline_png(result.plan, result.cycles, out / "timeline.png", o.clock_mhz)
    verdict = (f"all {checked} routings and decoder steps (out, new K/V) bit-exact against "
               f"the golden model"
               if not result.mismatches else
               f"{len(result.mismatches)} of {checked} results DIFFER from the golden model: "
               + "; ".join(f"step {m.step} {m.what}: {m.differing}/{m.total} words"
                           for m in result.mismatches[:5]))
    text = f"{format_table(result.summary)}\n\n{verdict}\nwrote {json_path} and {png_path}"
    return summary, text, not result.mismatches


def _run(args) -> int:
    live = sys.stderr if sys.stderr.isatty() and not getattr(args, "quiet", False) else None
    summary, text, ok = simulate_session(args, lambda message: progress(args, message),
                                         live=live)
    emit(args, summary, text)
    return 0 if ok else 1


#: where `rdu coe compare` keeps its experts when --experts is not given (generated there)
COMPARE_EXPERTS = Path("sim_build/coe/compare_experts")
#: `run`'s trace and shape defaults (not its policy and scheduler: `--scheduler` here is
#: the Dask one), with more experts, slots and requests, so that the slots are contended
#: and the policies differ
COMPARE_DEFAULTS = {**{key: RUN_DEFAULTS[key] for key in (
                        "make_experts", "expert_seed", "d", "heads", "head_dim", "f",
                        "cache_tokens", "trace_seed", "zipf", "max_tokens", "new_tokens", "window",
                        "threshold", "seed")},
                    "experts": COMPARE_EXPERTS, "count": 16, "slots": 3, "requests": 24,
                    "policies": ",".join(POLICIES), "schedulers": "fcfs,batch"}


def _compare_parser(actions):
    d = COMPARE_DEFAULTS
    c = actions.add_parser(
        "compare", help="every slot policy under both schedulers, simulated on the RTL",
        description="Make and route one Zipf trace, then run one session on the RTL per "
                    "(scheduler, policy) pair (as `run`, switches DDR -> HBM), every result "
                    "checked against the golden model; print per pair the measured hit rate, "
                    "switches, evictions, bytes and cycles per phase beside the planner's "
                    "prediction (`plan`'s figures, which the RTL must match exactly; switch "
                    "cycles as the plan's bytes at the DDR tier's peak; a total calibrated on "
                    "the fcfs/lru session). Exit status 1 if any result differs from the "
                    "golden model or any row from its plan. Without --experts the default "
                    "directory is used and generated on first use (--count experts of the "
                    "shape options, whose defaults are `run`'s, and --expert-seed).")
    c.set_defaults(**d)
    c.add_argument("--experts", type=Path,
                   help=f"checkpoint directory (default {d['experts']}, generated on first "
                        f"use)")
    c.add_argument("--make-experts", action="store_true",
                   help="generate experts (--count, --expert-seed) into --experts if it holds "
                        "no checkpoints")
    c.add_argument("--count", type=int, help=f"experts to generate (default {d['count']})")
    c.add_argument("--expert-seed", type=int,
                   help=f"seed of generated experts (default {d['expert_seed']})")
    _shape_arguments(c, defaults=False)
    _rdu_arguments(c)
    c.add_argument("--cache-tokens", type=int,
                   help=f"cached tokens each request's decode step attends to (default "
                        f"{d['cache_tokens']})")
    c.add_argument("--requests", type=int, help=f"default {d['requests']}")
    c.add_argument("--trace-seed", type=int, help=f"default {d['trace_seed']}")
    c.add_argument("--zipf", type=float, help=f"popularity skew (default {d['zipf']})")
    c.add_argument("--max-tokens", type=int,
                   help=f"tokens per request: 1..this (default {d['max_tokens']})")
    c.add_argument("--new-tokens", type=int,
                   help=f"tokens each request generates: 1..this (default {d['new_tokens']})")
    c.add_argument("--slots", type=int, help=f"HBM expert slots (default {d['slots']})")
    c.add_argument("--policies",
                   help=f"comma-separated slot policies to compare (default {d['policies']})")
    c.add_argument("--schedulers",
                   help=f"comma-separated request schedulers to compare (default "
                        f"{d['schedulers']}); not --scheduler, the Dask scheduler's address")
    c.add_argument("--window", type=int, help=f"batching window (default {d['window']})")
    c.add_argument("--threshold", type=float,
                   help=f"router confidence below which the general expert serves (default "
                        f"{d['threshold']})")
    c.add_argument("--seed", type=int, help=f"simulation seed (default {d['seed']})")
    add_cluster_options(c, "the sessions")
    return c


def _names(option: str) -> list[str]:
    return [name.strip() for name in option.split(",") if name.strip()]


def _compare(args) -> int:
    from hdl.rdu.tier_params import ddr_peak_bytes_per_cycle

    from ..coe.rtl_compare import (
        SCHEDULERS,
        check_pairs,
        compare_on_rtl,
        format_rtl_comparison,
        other_cycles_per_request,
        reference_row,
    )
    from ..farm.cluster import ClusterError
    from ..farm.sweep import sweeping_on

    if args.scheduler in SCHEDULERS:
        raise CommandError(f"--scheduler is the address of a Dask scheduler; the request "
                           f"schedulers to compare are --schedulers {args.scheduler}")
    for name in ("requests", "slots", "max_tokens", "new_tokens", "count", "window"):
        if getattr(args, name) < 1:
            raise CommandError(f"--{name.replace('_', '-')} must be at least 1, not "
                               f"{getattr(args, name)}")
    policies, schedulers = _names(args.policies), _names(args.schedulers)
    check_pairs(policies, schedulers, slots=args.slots, requests=args.requests,
                max_tokens=args.max_tokens, window=args.window)
    spec = cluster_spec(args, default_cluster=None)
    shape = decoder_shape(args)
    options = argparse.Namespace(**vars(args))
    options.make_experts = args.make_experts or Path(args.experts) == COMPARE_EXPERTS

    def log(message):
        progress(args, message)

    experts_ready(options, shape, log)
    log(f"{len(policies) * len(schedulers)} CoE sessions on the RTL ({', '.join(policies)} "
        f"under {', '.join(schedulers)}): {args.requests} requests of 1..{args.new_tokens} "
        f"decode steps over the experts in "
        f"{args.experts}, {args.slots} HBM slots, one trace (seed {args.trace_seed}, "
        f"Zipf {args.zipf:g})")
    config = coe_rdu(args)
    try:
        with sweeping_on(spec):
            rows = compare_on_rtl(config, Path(args.experts), shape=shape,
                                  requests=args.requests, trace_seed=args.trace_seed,
                                  zipf=args.zipf, max_tokens=args.max_tokens,
                                  new_tokens=args.new_tokens, slots=args.slots,
                                  policies=policies, schedulers=schedulers,
                                  window=args.window, threshold=args.threshold,
                                  seed=args.seed, log=log)
    except ClusterError as error:
        raise CommandError(str(error)) from None
    peak = ddr_peak_bytes_per_cycle(config)
    reference = reference_row(rows)
    data = {"rows": rows, "experts": str(args.experts), "requests": args.requests,
            "trace_seed": args.trace_seed, "zipf": args.zipf, "max_tokens": args.max_tokens,
            "new_tokens": args.new_tokens, "slots": args.slots, "window": args.window,
            "model": {"ddr_peak_bytes_per_cycle": peak,
                      "reference": [reference["scheduler"], reference["policy"]],
                      "other_cycles_per_request": other_cycles_per_request(reference)},
            "bit_exact": all(r["bit_exact"] for r in rows),
            "plan_agrees": all(r["plan_agrees"] for r in rows)}
    emit(args, data, format_rtl_comparison(rows, peak))
    return 0 if data["bit_exact"] and data["plan_agrees"] else 1
