"""``rdu demo``: the most complete flow the model has today.

Every arithmetic operation of the compute units runs hard vectors (zeros,
subnormals, infinities, NaNs, ties, overflow, cancellation) through its RTL
lane array in Verilator with random stalls on both sides, checked bit-exactly
against the NumPy golden model.
"""

import time

import numpy as np

from ..numerics_ops import NUMERIC_OPS, run_on_rtl
from .output import emit, progress


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
    emit(args, {"ops": rows, "vectors": total, "mismatches": failed, "passed": not failed},
         "\n".join(lines))
    return 0 if not failed else 1
