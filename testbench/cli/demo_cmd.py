"""``rdu demo``: the project's main job, then the flows under it.

1. A Composition-of-Experts session (``rdu coe run`` with :data:`DEMO_SESSION`: 16
   experts, 3 HBM slots, 24 requests of 1-3 generated tokens, so slots are evicted):
   expert checkpoints in DDR, switched into HBM slots by the copy engine, a router and
   the experts run as compiled dataflow kernels on the RDU; every routing and expert
   output checked bit-exactly; summary, ``summary.json`` and ``timeline.png``.
2. The RDU top (tile of PCUs and PMUs, network, AGCU, device memory, host
   port) runs the hand-built kernels through the runtime, first launched one
   by one by the host, then as one hardware-orchestrated AGCU schedule; every
   output is checked bit-exactly against the golden model.
3. Every arithmetic operation of the compute units runs hard vectors (zeros,
   subnormals, infinities, NaNs, ties, overflow, cancellation) through its RTL
   lane array in Verilator with random stalls on both sides, checked
   bit-exactly against the NumPy golden model.
"""

import argparse
import time
from pathlib import Path

import numpy as np

from .coe_cmd import RUN_DEFAULTS, simulate_session
from .numerics_ops import NUMERIC_OPS, run_on_rtl
from .output import emit, progress
from .run_cmd import format_report, run_kernels

#: the demo's CoE session: more experts than slots and skewed requests, so the slot policy
#: evicts; the experts are generated into their own directory on first use
DEMO_SESSION = {"experts": Path("sim_build/coe/demo_experts"), "make_experts": True,
                "count": 16, "slots": 3, "requests": 24, "new_tokens": 3}


def register(sub):
    p = sub.add_parser("demo", help="run the demo flow", description=__doc__)
    p.add_argument("--vectors", type=int, default=20_000, help="vectors per operation")
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(run=run)
    return p


def _operands(op, rng, count):
    from ..golden.fp_vectors import hard_bf16_pairs, hard_f32_pairs, hard_f32_values

    if op.arity == 1:
        return [hard_f32_values(rng, count)]
    if op.operand_bits == 16:
        return list(hard_bf16_pairs(rng, count))
    return list(hard_f32_pairs(rng, count))


def run(args):
    options = argparse.Namespace(**{**RUN_DEFAULTS, **DEMO_SESSION, "seed": args.seed})
    coe_summary, coe_text, coe_ok = simulate_session(options, lambda m: progress(args, m))
    progress(args, coe_text)
    kernel_reports = []
    for orchestration in ("software", "hardware"):
        report = run_kernels(["vector_add", "reduce_sum", "reduce_max", "gemm"], "small",
                             orchestration, args.seed, log=lambda m: progress(args, m))
        progress(args, format_report(report))
        kernel_reports.append(report)
    kernels_ok = all(report["passed"] for report in kernel_reports)
    speedup = kernel_reports[0]["cycles"] / kernel_reports[1]["cycles"]
    kernel_text = (f"RDU kernels: software-orchestrated {kernel_reports[0]['cycles']} cycles, "
                   f"hardware-orchestrated {kernel_reports[1]['cycles']} cycles "
                   f"({speedup:.2f}x); golden model: "
                   f"{'bit-exact' if kernels_ok else 'MISMATCHES'}")
    rng = np.random.default_rng(args.seed)
    rows, failed = [], 0
    ops = list(NUMERIC_OPS.items())
    for index, (name, op) in enumerate(ops, start=1):
        start = time.monotonic()
        progress(args, f"[{index}/{len(ops)}] {name}")
        operands = _operands(op, rng, args.vectors)
        got, cycles = run_on_rtl(name, operands, seed=args.seed, in_stall=0.2, out_stall=0.2,
                                 log=lambda m: progress(args, "  " + m))
        mismatches = int((got != op.expected(*operands)).sum())
        failed += mismatches
        rows.append({"op": name, "unit": op.unit, "vectors": args.vectors, "cycles": cycles,
                     "mismatches": mismatches, "seconds": round(time.monotonic() - start, 2)})
    width = max(len(r["op"]) for r in rows)
    lines = [f"{'op':{width}}  {'unit':13} {'vectors':>8} {'cycles':>8} {'mismatches':>10}"]
    lines += [f"{r['op']:{width}}  {r['unit']:13} {r['vectors']:8d} {r['cycles']:8d} "
              f"{r['mismatches']:10d}" for r in rows]
    total = sum(r["vectors"] for r in rows)
    verdict = "bit-exact" if not failed else f"{failed} MISMATCHES"
    lines.append(f"{total} results from RTL checked against the golden model: {verdict}")
    lines.append(kernel_text)
    lines.append(f"CoE session: {coe_summary['requests']} requests, "
                 f"{coe_summary['switches']} expert switches, hit rate "
                 f"{coe_summary['hit_rate']:.0%}, {coe_summary['total_cycles']:,} cycles; "
                 f"{coe_summary['checked']} results "
                 f"{'bit-exact' if coe_ok else 'with MISMATCHES'} (summary in {options.out})")
    passed = not failed and kernels_ok and coe_ok
    emit(args, {"ops": rows, "vectors": total, "mismatches": failed, "kernels": kernel_reports,
                "coe": coe_summary, "passed": passed}, "\n".join(lines))
    return 0 if passed else 1
