"""The bare C++ host (``bare_harness.cpp``): a Verilated RDU top driven with no Python.

:func:`build_bare` compiles the harness against a design's cached Verilog with the
design's build profile (the same C++ settings as its cocotb build, through the same
ccache) and caches the executable under ``sim_build/bare/<toplevel>-<hash>/``, keyed by
the Verilog text, the harness source, the flags and profile and the tool versions;
made under a lock and marked complete last, as :mod:`.build_cache` does.
:func:`run_bare` writes a script (memory writes, register writes, the doorbell that
opens the timed ``busy`` window, register and memory reads), runs it, and parses the
JSON the harness prints.
"""

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .build_cache import BuildError, Design, _locked, log_to_stderr, verilog_for
from .build_profile import PROFILES, ccache_env
from .toolchain import SIM_BUILD, tool_env, tool_versions, verilator_root

__all__ = ["BareResult", "BareRunError", "HARNESS_SOURCE", "bare_script", "build_bare",
           "run_bare"]

HARNESS_SOURCE = Path(__file__).with_name("bare_harness.cpp")
EXECUTABLE = "bare_harness"
VERILATOR_FLAGS = ("-Wno-fatal",)
BUILD_JOBS = 2


class BareRunError(RuntimeError):
    """The harness stopped with an error (its stderr is the message)."""


@dataclass
class BareResult:
    """What one harness run measured and read back."""

    busy_cycles: int | None        # cycles from busy rising to falling (None: no window)
    wall_seconds: float | None     # wall-clock seconds of that window
    registers: dict[int, int]      # register offset -> value read after the window
    reads: list[np.ndarray]        # uint32 words of each memory read
    build_seconds: float           # build, or cache check
    rebuilt: bool


def _build_dir(design: Design, verilog: Path, root: Path) -> Path:
    profile = PROFILES[design.profile]
    key = hashlib.sha256(json.dumps({
        "verilog": hashlib.sha256(verilog.read_bytes()).hexdigest(),
        "harness": hashlib.sha256(HARNESS_SOURCE.read_bytes()).hexdigest(),
        "flags": list(VERILATOR_FLAGS) + profile.verilator_args(),
        "profile": profile.key(), "tools": tool_versions(),
    }, sort_keys=True).encode()).hexdigest()[:16]
    return root / "bare" / f"{design.toplevel}-{key}"


def _compile(design: Design, verilog: Path, build_dir: Path) -> None:
    """Verilate and make in ``build_dir``; sources are copied in and named relatively, so
    the C++ is the same in every clone (ccache hits)."""
    profile = PROFILES[design.profile]
    shutil.copy(verilog, build_dir / f"{design.toplevel}.v")
    shutil.copy(HARNESS_SOURCE, build_dir / HARNESS_SOURCE.name)
    env = {**os.environ, **tool_env(), **ccache_env()}
    commands = [
        [str(verilator_root() / "bin" / "verilator"), "--cc", "--exe", "--prefix", "Vtop",
         "--top-module", design.toplevel, "-Mdir", ".", "-o", EXECUTABLE,
         *VERILATOR_FLAGS, *profile.verilator_args(), f"{design.toplevel}.v",
         HARNESS_SOURCE.name],
        ["make", "-j", str(BUILD_JOBS), "-f", "Vtop.mk", *profile.make_args()],
    ]
    log_file = build_dir / "build.log"
    with open(log_file, "w") as log:
        for command in commands:
            log.write(" ".join(command) + "\n")
            log.flush()
            if subprocess.run(command, cwd=build_dir, env=env, stdout=log,
                              stderr=subprocess.STDOUT).returncode:
                tail = log_file.read_text(errors="replace")[-4000:]
                raise BuildError(f"bare harness build of {design.toplevel} failed "
                                 f"({command[0]}); log {log_file}:\n{tail}")


def _built(design: Design, log, root: Path) -> tuple[Path, bool]:
    """(executable, whether it was built now)."""
    verilog, _ = verilog_for(design, root)
    build_dir = _build_dir(design, verilog, root)
    marker = build_dir / ".complete"
    with _locked(root / "bare", build_dir.name):
        if not marker.exists():
            log(f"building the bare C++ harness of {design.toplevel} in {build_dir}")
            shutil.rmtree(build_dir, ignore_errors=True)
            build_dir.mkdir(parents=True)
            _compile(design, verilog, build_dir)
            marker.write_text(json.dumps({"design": design.toplevel}))
            return build_dir / EXECUTABLE, True
    return build_dir / EXECUTABLE, False


def build_bare(design: Design, *, log=log_to_stderr, root: Path | None = None) -> Path:
    """The harness executable for ``design``, built only if nothing cached matches."""
    return _built(design, log, root or SIM_BUILD)[0]


def bare_script(preload, registers, reads, timeout_cycles: int, query=()) -> str:
    """The harness script: write ``preload`` [(address, array)] to device memory, then
    ``registers`` [(offset, value)] with the last one (the doorbell) opening the timed
    window (``timeout_cycles`` for busy to rise and fall), then read the registers of
    ``query`` and the memory ``reads`` [(address, words)]."""
    lines = [f"M {address:#x} {array.nbytes} {array.tobytes().hex()}"
             for address, array in ((a, np.ascontiguousarray(x)) for a, x in preload)]
    *setup, doorbell = list(registers) or [None]
    lines += [f"R {offset:#x} {value:#x}" for offset, value in setup]
    if doorbell is not None:
        lines.append(f"GO {doorbell[0]:#x} {doorbell[1]:#x} {timeout_cycles}")
    lines += [f"Q {offset:#x}" for offset in query]
    lines += [f"D {address:#x} {words}" for address, words in reads]
    return "\n".join(lines) + "\n"


def run_bare(design: Design, preload, registers, reads, timeout_cycles: int = 200_000, *,
             query=(), log=log_to_stderr, root: Path | None = None) -> BareResult:
    """Run :func:`bare_script` of the arguments on ``design``'s harness; raises
    :class:`BareRunError` with the harness's message if it fails."""
    start = time.monotonic()
    executable, rebuilt = _built(design, log, root or SIM_BUILD)
    build_seconds = time.monotonic() - start
    with tempfile.TemporaryDirectory(prefix="bare_harness_") as tmp:
        script = Path(tmp) / "script.txt"
        script.write_text(bare_script(preload, registers, reads, timeout_cycles, query))
        done = subprocess.run([str(executable), str(script)], capture_output=True, text=True)
    if done.returncode:
        message = done.stderr.strip().replace(str(script), "script")
        raise BareRunError(f"bare harness of {design.toplevel} exited {done.returncode}: "
                           f"{message}")
    result = json.loads(done.stdout)
    return BareResult(result["busy_cycles"], result["wall_seconds"],
                      {int(offset): value for offset, value in result["registers"].items()},
                      [np.asarray(words, np.uint32) for words in result["reads"]],
                      build_seconds, rebuilt)
