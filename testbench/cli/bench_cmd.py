"""``rdu bench [PART]``: performance figures, each part also alone with ``--json``.

Exit status 1 when a figure is below its floor (:mod:`.bench_floors`); the text
ends with a summary of the floors checked, which goes to stderr with ``--json``
(unless ``--quiet``).
"""

from . import (
    bench_coe,
    bench_fp,
    bench_kernels,
    bench_link,
    bench_mem,
    bench_pcu,
    bench_simspeed,
    bench_system,
)
from .bench_floors import exit_status, results_of, summary
from .output import emit, progress

PARTS = {"fp": bench_fp.run_bench, "mem": bench_mem.run_bench, "pcu": bench_pcu.run_bench,
         "link": bench_link.run_bench, "system": bench_system.run_bench,
         "coe": bench_coe.run_bench, "kernels": bench_kernels.run_bench,
         "simspeed": bench_simspeed.run_bench}


def register(sub):
    p = sub.add_parser("bench", help="run benchmarks (all parts, or one)")
    p.add_argument("part", nargs="?", choices=sorted(PARTS), help="one part (default: all)")
    p.set_defaults(run=run)
    return p


def run(args):
    parts = [args.part] if args.part else sorted(PARTS)
    results, texts, floors = {}, [], []
    for part in parts:
        progress(args, f"bench {part} ...")
        data, text = PARTS[part](lambda message: progress(args, message))
        results[part] = data
        texts.append(text)
        floors += results_of(data)
    if floors:
        texts.append(summary(floors))
    emit(args, results if len(parts) > 1 else results[parts[0]], "\n\n".join(texts))
    if floors and getattr(args, "json", False):
        progress(args, summary(floors))
    return exit_status(floors)
