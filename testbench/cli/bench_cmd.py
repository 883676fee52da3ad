"""``rdu bench [PART]``: performance figures, each part also alone with ``--json``.

Exit status 1 when a figure is below its floor (:mod:`.bench_floors`); the text
ends with a summary of the floors checked, which goes to stderr with ``--json``
(unless ``--quiet``).

With ``--scheduler ADDRESS`` or ``--cluster ...`` (the options of ``rdu regress``)
the independent simulations inside a part (e.g. the CoE sessions) run as tasks on
that Dask cluster; without them, here, one after the other.

``--plot FILE``: the kernels part also draws its roofline chart as PNG to FILE
(:data:`PLOT_PARTS` take it; the other parts have no chart).
"""

from ..farm.cluster import ClusterError
from ..farm.sweep import sweeping_on
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
from .cluster_options import add_cluster_options, cluster_spec
from .output import CommandError, emit, progress

PARTS = {"fp": bench_fp.run_bench, "mem": bench_mem.run_bench, "pcu": bench_pcu.run_bench,
         "link": bench_link.run_bench, "system": bench_system.run_bench,
         "coe": bench_coe.run_bench, "kernels": bench_kernels.run_bench,
         "simspeed": bench_simspeed.run_bench}
#: the parts whose run_bench takes ``plot=FILE``
PLOT_PARTS = ("kernels",)


def register(sub):
    p = sub.add_parser("bench", help="run benchmarks (all parts, or one)")
    p.add_argument("part", nargs="?", choices=sorted(PARTS), help="one part (default: all)")
    p.add_argument("--plot", metavar="FILE",
                   help=f"draw a chart as PNG to FILE (parts: {', '.join(PLOT_PARTS)})")
    add_cluster_options(p, "the sweeps inside a part")
    p.set_defaults(run=run)
    return p


def run(args):
    parts = [args.part] if args.part else sorted(PARTS)
    plot = getattr(args, "plot", None)
    if plot and not set(parts) & set(PLOT_PARTS):
        raise CommandError(f"--plot: part {args.part} draws no chart (parts that do: "
                           f"{', '.join(PLOT_PARTS)})")
    results, texts, floors = {}, [], []
    try:
        with sweeping_on(cluster_spec(args, default_cluster=None)):
            for part in parts:
                progress(args, f"bench {part} ...")
                options = {"plot": plot} if plot and part in PLOT_PARTS else {}
                data, text = PARTS[part](lambda message: progress(args, message), **options)
                results[part] = data
                texts.append(text)
                floors += results_of(data)
    except ClusterError as error:
        raise CommandError(str(error)) from None
    if floors:
        texts.append(summary(floors))
    emit(args, results if len(parts) > 1 else results[parts[0]], "\n\n".join(texts))
    if floors and getattr(args, "json", False):
        progress(args, summary(floors))
    return exit_status(floors)
