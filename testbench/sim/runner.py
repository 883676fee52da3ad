"""Run a cocotb test module against a cached Verilator model.

Data crosses the process boundary as files, never per cycle: arrays go to the
simulation as ``inputs.npz`` and come back as ``outputs.npz``, and the test's
arguments as JSON in ``args.json`` (a file: the steps of a long host program
outgrow the 128 KiB Linux allows one environment variable). The cocotb side reads
them with :mod:`testbench.bfm.sim_io`.
"""

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .build_cache import BuiltModel, Design, build_model, fst_available, log_to_stderr
from .toolchain import PROJECT_ROOT, SIM_BUILD, tool_env

__all__ = ["SimulationFailed", "SimResult", "run_cocotb", "simulate"]


class SimulationFailed(AssertionError):
    """A cocotb test failed; the message says how to reproduce it."""


@dataclass
class SimResult:
    """What one simulation run produced."""

    outputs: dict
    log: Path
    waves: Path | None
    run_dir: Path
    #: wall seconds of the build check (or build) and of the simulator process
    build_seconds: float = 0.0
    run_seconds: float = 0.0


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:120]


@contextlib.contextmanager
def _claimed_run_dir(run_name: str):
    """An empty ``sim_build/runs/<run_name>`` that no other process is using.

    Two processes (pytest-xdist workers, or a user's two shells) may run under
    the same name; the second gets ``<run_name>-2`` and so on instead of
    deleting the first one's files mid-run.
    """
    runs = SIM_BUILD / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    base = _safe(run_name)
    for attempt in range(1, 1000):
        name = base if attempt == 1 else f"{base}-{attempt}"
        handle = open(runs / f".{name}.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        try:
            run_dir = runs / name
            shutil.rmtree(run_dir, ignore_errors=True)
            run_dir.mkdir(parents=True)
            yield run_dir
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
        return
    raise RuntimeError(f"no free run directory for {run_name!r} under {runs}")


def run_cocotb(model: BuiltModel, test_module: str, *, run_name: str, seed: int,
               args: dict | None = None, inputs: dict | None = None,
               testcase: str | None = None, quiet: bool = True) -> SimResult:
    """Run ``test_module``'s cocotb tests on ``model``; raise SimulationFailed on failure."""
    with _claimed_run_dir(run_name) as run_dir:
        return _run_in(run_dir, model, test_module, run_name=run_name, seed=seed, args=args,
                       inputs=inputs, testcase=testcase, quiet=quiet)


def _run_in(run_dir: Path, model: BuiltModel, test_module: str, *, run_name: str, seed: int,
            args: dict | None, inputs: dict | None, testcase: str | None,
            quiet: bool) -> SimResult:
    from cocotb_tools.runner import get_results, get_runner

    inputs_path, outputs_path = run_dir / "inputs.npz", run_dir / "outputs.npz"
    np.savez(inputs_path, **(inputs or {}))
    args_path = run_dir / "args.json"
    args_path.write_text(json.dumps(args or {}))
    suffix = ".fst" if fst_available() else ".vcd"
    waves = run_dir / f"{_safe(run_name)}{suffix}" if model.waves else None
    results = run_dir / "results.xml"
    log_path = run_dir / "sim.log"

    # The runner hands the simulator this process's sys.path as PYTHONPATH.
    for path in (str(PROJECT_ROOT), str(PROJECT_ROOT / "tests")):
        if path not in sys.path:
            sys.path.append(path)
    env = dict(tool_env())
    env.update({
        "RDU_SIM_ARGS": str(args_path),
        "RDU_SIM_INPUTS": str(inputs_path),
        "RDU_SIM_OUTPUTS": str(outputs_path),
        "COCOTB_LOG_LEVEL": os.environ.get("COCOTB_LOG_LEVEL", "INFO"),
        # pytest's assertion rewriting (operands in a failed assert's message) only in
        # a traced run, which is how a failure is rerun: setting it up costs about a
        # second per simulator start, and cocotb's default ("*.py") re-parses every
        # module it imports (Amaranth, NumPy, ...) wherever no bytecode is cached.
        "COCOTB_REWRITE_ASSERTION_FILES": test_module.rpartition(".")[2] + ".py"
                                          if model.waves else "",
    })
    runner = get_runner("verilator")
    # The runner changes its behaviour under pytest (it exits instead of
    # returning); hide the variable so every caller gets the same contract.
    saved = os.environ.pop("PYTEST_CURRENT_TEST", None)
    try:
        runner.test(
            test_module=test_module, hdl_toplevel=model.design.toplevel,
            hdl_toplevel_lang="verilog",
            build_dir=model.build_dir, test_dir=run_dir, seed=seed, testcase=testcase,
            extra_env=env, waves=model.waves, results_xml=str(results), log_file=log_path,
            test_args=["--trace-file", str(waves)] if waves else [],
        )
        sim_error = None
    except (SystemExit, RuntimeError, subprocess.CalledProcessError) as error:
        sim_error = error
    finally:
        if saved is not None:
            os.environ["PYTEST_CURRENT_TEST"] = saved

    try:
        total, failed = get_results(results)
    except RuntimeError:
        total, failed = 0, 1
    if sim_error is not None or failed or total == 0:
        log_tail = log_path.read_text(errors="replace")[-6000:] if log_path.exists() else ""
        raise SimulationFailed(
            f"{failed or 'the'} cocotb test(s) of {test_module} failed on "
            f"{model.design.toplevel} (seed {seed}).\n"
            f"log: {log_path}\n" + (f"waves: {waves}\n" if waves else "") +
            f"--- end of log ---\n{log_tail}")
    outputs = {}
    if outputs_path.exists():
        with np.load(outputs_path, allow_pickle=False) as data:
            outputs = {name: data[name] for name in data.files}
    if not quiet:
        sys.stdout.write(log_path.read_text(errors="replace"))
    return SimResult(outputs, log_path, waves, run_dir)


def simulate(design: Design, test_module: str, *, run_name: str, seed: int,
             waves: bool = False, rerun_with_waves: bool = True, log=log_to_stderr,
             **kwargs) -> SimResult:
    """Build (cached) and run; on failure rerun once with waveforms and the same seed."""
    model = build_model(design, waves=waves, log=log)
    try:
        start = time.perf_counter()
        result = run_cocotb(model, test_module, run_name=run_name, seed=seed, **kwargs)
        result.build_seconds, result.run_seconds = model.seconds, time.perf_counter() - start
        return result
    except SimulationFailed as failure:
        if waves or not rerun_with_waves:
            raise
        log(f"{run_name} failed; rerunning with waveforms (seed {seed})")
        traced = build_model(design, waves=True, log=log)
        try:
            run_cocotb(traced, test_module, run_name=run_name, seed=seed, **kwargs)
        except SimulationFailed as traced_failure:
            raise traced_failure from None
        raise SimulationFailed(f"{failure}\n(the rerun with waveforms passed: "
                               "the failure depends on something other than the seed)") from None
