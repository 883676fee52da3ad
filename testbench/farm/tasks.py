"""One task of a regression: a file's tests, run by pytest in a subprocess on a worker.

:func:`run_task` runs on the Dask worker. It starts pytest with the worker's own
Python in the worker's own checkout, writes a JUnit XML per task, and returns
everything the client needs as plain data: a crash, a timeout or a signal is a
result, not an exception, so the tests of the task are never lost.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .pytest_plugin import EVENTS_ENV

__all__ = ["PLUGIN", "Task", "TaskOptions", "TaskResult", "clean_environment", "pytest_command",
           "run_task"]

PLUGIN = "testbench.farm.pytest_plugin"
OUTPUT_TAIL_CHARS = 6000

# Variables of a pytest that runs rdu regress (our own tests do) that would change how
# the task's pytest behaves.
_INHERITED_PYTEST_VARIABLES = ("PYTEST_CURRENT_TEST", "PYTEST_XDIST_WORKER",
                               "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID")

# Run in front of pytest on Linux: if the worker dies (killed, out of memory), its pytest
# gets SIGKILL instead of running on beside the retry of the same task on another worker.
_LAUNCHER = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(137)\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])\n"
)


@dataclass(frozen=True)
class Task:
    """The tests of one file, and the pytest arguments that select exactly them.

    ``name`` is the file as pytest's node ids name it; ``path`` and ``rootdir`` are
    relative to the checkout when inside it, so a worker finds them in its own checkout.
    """

    name: str
    path: str
    rootdir: str
    node_ids: tuple[str, ...]
    args: tuple[str, ...]


@dataclass(frozen=True)
class TaskOptions:
    """What every task of a run shares: pytest options, timeout, Verilator build cache.

    ``events_topic`` is the Dask event topic on which each task logs its start, so the
    client can tell a task that was rerun after its worker died.
    """

    pytest_options: tuple[str, ...] = ()
    timeout: float | None = None
    cache_dir: str | None = None
    events_topic: str | None = None


@dataclass
class TaskResult:
    """What came back from one task (or, if ``lost`` is set, what became of it).

    ``started_on`` lists the workers that started it, more than one if it was rerun.
    """

    task: Task
    returncode: int | None = None
    seconds: float = 0.0
    worker: str = ""
    host: str = ""
    junit_xml: str | None = None
    finished: dict[str, dict] = field(default_factory=dict)
    output_tail: str = ""
    timed_out: bool = False
    lost: str | None = None
    started_on: list[str] = field(default_factory=list)


def clean_environment() -> dict[str, str]:
    """This process's environment without the variables of an enclosing pytest."""
    env = dict(os.environ)
    for name in _INHERITED_PYTEST_VARIABLES:
        env.pop(name, None)
    return env


def pytest_command(task: Task, options: TaskOptions, junit_path: Path) -> list[str]:
    """The pytest command line of ``task`` (the JUnit XML and rootdir options come last)."""
    extra = [] if "no:cacheprovider" in options.pytest_options else ["-p", "no:cacheprovider"]
    # No shared .pytest_cache written by many tasks at once; rdu regress has --last-failed.
    return [sys.executable, "-m", "pytest", "-p", PLUGIN, *extra, *options.pytest_options,
            f"--junitxml={junit_path}", f"--rootdir={task.rootdir}", *task.args]


def run_task(task: Task, options: TaskOptions) -> TaskResult:
    """Run ``task``'s pytest in this (worker's) checkout and return its results."""
    from testbench.sim.toolchain import PROJECT_ROOT  # this worker's checkout, not the client's

    root = PROJECT_ROOT
    worker = _worker_address()
    if options.events_topic and worker != "local":
        from distributed import get_worker

        get_worker().log_event(options.events_topic, {"task": task.name, "worker": worker})
    with tempfile.TemporaryDirectory(prefix="rdu-regress-") as tmp:
        junit_path = Path(tmp) / "junit.xml"
        events_path = Path(tmp) / "events.jsonl"
        output_path = Path(tmp) / "output.txt"
        env = clean_environment()
        env[EVENTS_ENV] = str(events_path)
        if options.cache_dir:
            env["RDU_SIM_BUILD"] = str(root / options.cache_dir)
        command = pytest_command(task, options, junit_path)
        if sys.platform == "linux":
            command = [sys.executable, "-c", _LAUNCHER, str(os.getpid()), *command[1:]]
        start = time.monotonic()
        returncode, timed_out = _run(command, root, env, output_path, options.timeout)
        seconds = time.monotonic() - start
        return TaskResult(
            task=task, returncode=returncode, seconds=seconds, worker=worker,
            host=socket.gethostname(),
            junit_xml=junit_path.read_text(errors="replace") if junit_path.exists() else None,
            finished=_finished_tests(events_path), output_tail=_tail(output_path),
            timed_out=timed_out)


def _run(command, cwd, env, output_path: Path, timeout) -> tuple[int, bool]:
    with open(output_path, "wb") as output:
        # Its own session, so a timeout kills pytest together with its simulators.
        process = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                   stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            return process.wait(timeout=timeout), False
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return process.wait(), True
        except BaseException:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return "local"


def _finished_tests(path: Path) -> dict[str, dict]:
    finished = {}
    if path.exists():
        for line in path.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # the last line of a pytest killed while writing it
            if "nodeid" in record:
                finished[record.pop("nodeid")] = record
    return finished


def _tail(path: Path) -> str:
    if not path.exists():
        return ""
    with open(path, "rb") as output:
        output.seek(max(0, path.stat().st_size - OUTPUT_TAIL_CHARS))
        return output.read().decode(errors="replace")
