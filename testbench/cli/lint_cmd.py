"""``rdu lint``: ``verilator --lint-only -Wall`` on every generated design."""

import subprocess

from ..sim.build_cache import verilog_for
from ..sim.toolchain import PROJECT_ROOT, tool_env, verilator_root
from .designs import DESIGNS, design_named
from .output import emit, progress

WAIVERS = PROJECT_ROOT / "hdl" / "verilator_lint.vlt"


def register(sub):
    p = sub.add_parser("lint", help="lint every generated design with Verilator -Wall",
                       description=f"Waivers, each explained: {WAIVERS.relative_to(PROJECT_ROOT)}")
    p.add_argument("designs", nargs="*", help="design names (default: all)")
    p.set_defaults(run=run)
    return p


def lint_design(name: str) -> list[str]:
    """Warnings Verilator reports for the design's default configuration."""
    design = design_named(name)
    path, _ = verilog_for(design)
    env = dict(__import__("os").environ, **tool_env())
    result = subprocess.run(
        [str(verilator_root() / "bin" / "verilator"), "--lint-only", "-Wall",
         "--top-module", design.toplevel, str(WAIVERS), str(path)],
        capture_output=True, text=True, env=env)
    messages = [line for line in result.stderr.splitlines() if line.startswith("%")]
    if result.returncode and not messages:
        messages = [f"%Error: verilator exited {result.returncode}: {result.stderr[-500:]}"]
    return messages


def run(args):
    names = args.designs or sorted(DESIGNS)
    report = {}
    for name in names:
        progress(args, f"lint {name}")
        report[name] = lint_design(name)
    dirty = {name: msgs for name, msgs in report.items() if msgs}
    lines = [f"{name}: {'clean' if not msgs else f'{len(msgs)} warning(s)'}"
             for name, msgs in report.items()]
    for name, msgs in dirty.items():
        lines += [f"  {name}: {m}" for m in msgs[:20]]
    emit(args, {"designs": report, "clean": not dirty}, "\n".join(lines))
    return 1 if dirty else 0
