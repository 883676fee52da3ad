"""Entry point of ``rdu``."""

import argparse
import importlib
import sys
import warnings

from .output import CommandError, add_output_options

#: command name -> the module (in this package) whose ``register`` adds it; a command
#: line naming one imports only that module (the others cost about a second to import)
SUBCOMMANDS = {"verilog": "verilog_cmd", "testfloat": "testfloat_cmd", "bench": "bench_cmd",
               "lint": "lint_cmd", "demo": "demo_cmd", "fpga": "fpga_cmd", "mem": "mem_cmd",
               "run": "run_cmd", "link": "link_cmd", "kernel": "kernel_cmd", "coe": "coe_cmd",
               "regress": "regress_cmd"}


def _chosen_command(argv) -> str | None:
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    return first if first in SUBCOMMANDS else None


def build_parser(argv=()) -> argparse.ArgumentParser:
    """Every command's parser, or only the one ``argv`` names."""
    parser = argparse.ArgumentParser(
        prog="rdu", description="RTL model of a reconfigurable dataflow unit: build, run, check.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = _chosen_command(argv)
    for name, module_name in SUBCOMMANDS.items():
        if chosen not in (None, name):
            continue
        module = importlib.import_module(f".{module_name}", __package__)
        command = module.register(sub)
        add_output_options(command)
    return parser


def main(argv=None) -> int:
    warnings.filterwarnings("ignore", module="amaranth")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    try:
        return args.run(args) or 0
    except CommandError as error:
        sys.stderr.write(f"rdu {args.command}: error: {error}\n")
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
