"""``rdu verilog``: emit the Verilog of a named unit for a given configuration."""

from pathlib import Path

from ..sim.build_cache import verilog_for
from .designs import DESIGNS, design_named
from .output import CommandError, emit, progress
from .params import add_param_option, parse_params


def register(sub):
    names = ", ".join(sorted(DESIGNS))
    p = sub.add_parser("verilog", help="emit the Verilog of a named unit",
                       description=f"Emit Verilog for one design. Designs: {names}.")
    p.add_argument("design", help="design name (see `rdu verilog --list`)", nargs="?")
    add_param_option(p)
    p.add_argument("--top", help="Verilog module name (default: the design name)")
    p.add_argument("-o", "--output", type=Path, help="write the Verilog here instead of stdout")
    p.add_argument("--list", action="store_true", help="list designs and their parameters")
    p.set_defaults(run=run)
    return p


def _top_ports(text: str, top: str) -> list[str]:
    start = text.find(f"module {top}(")
    body = text[start:text.find("endmodule", start)] if start >= 0 else ""
    return [line.strip().rstrip(";") for line in body.splitlines()
            if line.strip().startswith(("input ", "output "))]


def run(args):
    if args.list or not args.design:
        rows = {name: {"parameters": entry.defaults, "description": entry.description}
                for name, entry in sorted(DESIGNS.items())}
        text = "\n".join(f"{name:16} {entry.description}; parameters "
                         + ", ".join(f"{k}={v!r}" for k, v in entry.defaults.items())
                         for name, entry in sorted(DESIGNS.items()))
        emit(args, {"designs": rows}, text)
        return 0
    try:
        design = design_named(args.design, parse_params(args.param), args.top)
        progress(args, f"generating Verilog for {design.toplevel} {design.params}")
        path, generated = verilog_for(design)
    except (ValueError, TypeError) as error:
        raise CommandError(str(error)) from None
    text = path.read_text()
    if args.output:
        args.output.write_text(text)
    ports = _top_ports(text, design.toplevel)
    data = {"design": args.design, "toplevel": design.toplevel, "params": design.params,
            "verilog": str(args.output or path), "lines": text.count("\n"),
            "cached": not generated, "ports": ports}
    if args.json:
        emit(args, data, "")
    elif args.output:
        emit(args, data, f"wrote {args.output} ({data['lines']} lines, top {design.toplevel})")
    else:
        emit(args, data, text)
    return 0
