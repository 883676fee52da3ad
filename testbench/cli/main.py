"""Entry point of ``rdu``."""

import argparse
import sys
import warnings

from . import (
    bench_cmd,
    coe_cmd,
    demo_cmd,
    fpga_cmd,
    kernel_cmd,
    link_cmd,
    lint_cmd,
    mem_cmd,
    regress_cmd,
    run_cmd,
    testfloat_cmd,
    verilog_cmd,
)
from .output import CommandError

SUBCOMMANDS = [verilog_cmd, testfloat_cmd, bench_cmd, lint_cmd, demo_cmd, fpga_cmd, mem_cmd,
               run_cmd, link_cmd, kernel_cmd, coe_cmd, regress_cmd]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rdu", description="RTL model of a reconfigurable dataflow unit: build, run, check.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        command = module.register(sub)
        command.add_argument("--json", action="store_true",
                             help="print machine-readable JSON on stdout")
        command.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return parser


def main(argv=None) -> int:
    warnings.filterwarnings("ignore", module="amaranth")
    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except CommandError as error:
        sys.stderr.write(f"rdu {args.command}: error: {error}\n")
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
