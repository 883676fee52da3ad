"""``rdu run``: hand-built kernels on the RDU top, through the runtime, checked bit-exactly.

Each kernel's inputs are written through the host's AXI4 port, its program is
loaded through Program Load, it runs (one launch per kernel from the host, or
all of them as one AGCU schedule with ``--orchestration hardware``) and its
output is read back and compared with the golden model.
"""

import time

import numpy as np

from hdl.rdu.config import PRESETS, rdu_params

from .output import CommandError, emit, progress


def register(sub):
    from ..programs.catalog import KERNELS

    p = sub.add_parser("run", help="run hand-built kernels on the RDU", description=__doc__)
    p.add_argument("kernels", nargs="*", metavar="KERNEL",
                   help=f"kernels to run (default: all of {', '.join(sorted(KERNELS))})")
    p.add_argument("--preset", default="small", help=f"RDU preset ({', '.join(PRESETS)})")
    p.add_argument("--orchestration", choices=("software", "hardware"), default="software")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--waves", action="store_true", help="write an FST waveform")
    p.set_defaults(run=run)
    return p


def run_kernels(names, preset: str, orchestration: str, seed: int, waves: bool = False,
                log=print) -> dict:
    """Run ``names`` in one simulation; return per-kernel rows and totals."""
    from ..programs.catalog import prepare
    from ..runtime.host_script import HostScript

    try:
        config = rdu_params(preset)
        script = HostScript(config)
        rng = np.random.default_rng(seed)
        kernels = [prepare(name, script, rng) for name in names]
    except ValueError as error:
        raise CommandError(str(error)) from None
    if orchestration == "software":
        for i, kernel in enumerate(kernels):
            script.load(kernel.image)
            script.launch(kernel.arguments, f"k{i}")
    else:
        script.schedule([(kernel.image, kernel.arguments) for kernel in kernels], "schedule")
    for i, kernel in enumerate(kernels):
        script.read(f"out{i}", kernel.out, kernel.expected.size)
    script.counters("counters")
    log(f"simulating {len(kernels)} kernel(s) on the {preset} RDU ({orchestration}-orchestrated)")
    start = time.monotonic()
    result = script.run(run_name=f"rdu_run_{preset}_{orchestration}", seed=seed, waves=waves)
    rows = []
    for i, kernel in enumerate(kernels):
        got = result[f"out{i}"]
        row = {"kernel": kernel.name, "words": int(kernel.expected.size),
               "mismatches": int(np.count_nonzero(got != kernel.expected))}
        if orchestration == "software":
            launch = result.launch(f"k{i}")
            row["host_cycles"], row["kernel_cycles"] = launch.host, launch.kernel
        rows.append(row)
    total = (result.cycles("schedule") if orchestration == "hardware" else
             result.cycles("k0", f"k{len(kernels) - 1}"))
    return {"preset": preset, "orchestration": orchestration, "seed": seed, "kernels": rows,
            "cycles": total, "seconds": round(time.monotonic() - start, 2),
            "counters": result["counters"].tolist(),
            "passed": all(row["mismatches"] == 0 for row in rows)}


def format_report(report: dict) -> str:
    lines = [f"{'kernel':14} {'words':>6} {'host cyc':>9} {'kernel cyc':>10} {'mismatches':>10}"]
    for row in report["kernels"]:
        lines.append(f"{row['kernel']:14} {row['words']:6d} {row.get('host_cycles', '-'):>9} "
                     f"{row.get('kernel_cycles', '-'):>10} {row['mismatches']:10d}")
    verdict = "bit-exact" if report["passed"] else "MISMATCHES"
    lines.append(f"{len(report['kernels'])} kernel(s), {report['orchestration']}-orchestrated on "
                 f"the {report['preset']} RDU: {report['cycles']} cycles, golden model: {verdict}")
    return "\n".join(lines)


def run(args):
    from ..programs.catalog import KERNELS

    names = args.kernels or sorted(KERNELS)
    report = run_kernels(names, args.preset, args.orchestration, args.seed, args.waves,
                         log=lambda m: progress(args, m))
    emit(args, report, format_report(report))
    return 0 if report["passed"] else 1
