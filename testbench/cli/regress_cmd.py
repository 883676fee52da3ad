"""``rdu regress``: the tests on a Dask cluster, one task per file, heaviest first.

Collects the selection with pytest, runs each file's tests in a pytest of its own on
a Dask worker (a local cluster by default), and merges the results: one JUnit XML,
one row per file, and the seed and waveform of every failing test. A file whose
pytest crashed, timed out or was lost with its worker is reported as such, test by
test; a task lost with its worker is run once more first. Exit status 0 only when
no test failed.

rdu options come first, then the pytest selection and options (after ``--`` if the
first of them starts with a dash):

  rdu regress --workers 4 -m "not regress"
  rdu regress --scheduler tcp://10.0.0.5:8786 -- --seed 3 tests/test_pmu.py
  rdu regress --cluster slurm --queue short --memory 8GB --cores 4 --jobs 8

Every node needs the same Python environment (this checkout and its .venv). The
Verilator build cache is sim_build/ of the worker's checkout, one per node unless
that is on a shared filesystem, or --cache-dir (RDU_SIM_BUILD). The cache's locks are
fcntl locks: several hosts may share a cache only on a filesystem whose POSIX locks
work across hosts (e.g. NFSv4); elsewhere give each node its own cache directory.
"""

import argparse
import xml.etree.ElementTree as ET
from pathlib import Path

from ..farm.cluster import ClusterError, ClusterSpec, dask_client
from ..farm.collect import (
    CollectedTest,
    Collection,
    CollectionError,
    collect,
    group_by_file,
    order_heaviest_first,
    split_pytest_args,
)
from ..farm.dispatch import run_tasks
from ..farm.report import (
    FAILING,
    build_report,
    closing_line,
    progress_line,
    summary_text,
    task_report,
)
from ..farm.state import (
    LAST_FAILED,
    default_state_dir,
    load_durations,
    load_last_failed,
    save_durations,
    save_last_failed,
)
from ..farm.tasks import TaskOptions
from ..sim.toolchain import PROJECT_ROOT
from .cluster_options import add_cluster_options, cluster_spec
from .output import CommandError, emit, progress


def register(sub):
    p = sub.add_parser("regress", help="run the tests on a Dask cluster, one task per file",
                       description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_cluster_options(p, "the tests")
    run_group = p.add_argument_group("the run")
    run_group.add_argument("-m", dest="markexpr", metavar="MARKEXPR",
                           help="pytest's -m, e.g. \"not regress\"")
    run_group.add_argument("-k", dest="keyword", metavar="EXPRESSION", help="pytest's -k")
    run_group.add_argument("--last-failed", action="store_true",
                           help="rerun only the tests that failed, errored, crashed, timed out "
                                "or were lost in the previous rdu regress run")
    run_group.add_argument("--timeout", type=float, metavar="SECONDS",
                           help="kill a file's pytest after this long (reported as timeout)")
    run_group.add_argument("--cache-dir", metavar="DIR",
                           help="Verilator build cache of the tasks (sets RDU_SIM_BUILD; "
                                "relative to the worker's checkout). Default: the worker "
                                "checkout's sim_build. Shared by several hosts only on a "
                                "filesystem with POSIX locks across hosts (e.g. NFSv4): the "
                                "cache uses fcntl locks")
    run_group.add_argument("--junitxml", metavar="FILE",
                           help="merged JUnit XML (default: sim_build/regress/junit.xml)")
    run_group.add_argument("--state-dir", metavar="DIR",
                           help="durations, last failures and per-file JUnit XML "
                                "(default: sim_build/regress)")
    p.add_argument("pytest_args", nargs=argparse.REMAINDER, metavar="PYTEST_ARGS",
                   help="test selection and pytest options (default: pytest's testpaths)")
    p.set_defaults(run=run)
    return p


def _check(args) -> None:
    if args.timeout is not None and args.timeout <= 0:
        raise CommandError(f"--timeout must be positive, not {args.timeout:g}")


def _pytest_args(args) -> list[str]:
    """The pytest arguments; a ``--json`` after the selection is still rdu's."""
    raw = list(args.pytest_args)
    end = raw.index("--") if "--" in raw else len(raw)
    if "--json" in raw[:end]:
        raw.remove("--json")
        args.json = True
    forwarded = []
    if args.markexpr is not None:
        forwarded += ["-m", args.markexpr]
    if args.keyword is not None:
        forwarded += ["-k", args.keyword]
    return forwarded + raw


def _where(spec: ClusterSpec) -> str:
    if spec.scheduler:
        return f"the scheduler at {spec.scheduler}"
    if spec.cluster == "local":
        return f"a local cluster of {spec.workers} worker(s)"
    return f"a {spec.cluster} cluster of {spec.jobs} job(s) x {spec.cores} worker(s)"


def _collection(args, options, selection, state_dir: Path) -> tuple[Collection, list[str]]:
    if not args.last_failed:
        try:
            return collect([*options, *selection], PROJECT_ROOT), options
        except CollectionError as error:
            raise CommandError(str(error)) from None
    if selection:
        raise CommandError("--last-failed reruns the previous failures; give no test selection")
    previous = load_last_failed(state_dir)
    if previous is None:
        raise CommandError(f"no previous rdu regress run recorded ({state_dir / LAST_FAILED})")
    tests = tuple(CollectedTest(t["nodeid"], t["path"]) for t in previous["tests"])
    return (Collection(previous.get("rootdir", str(PROJECT_ROOT)), tests),
            options or list(previous.get("pytest_options", [])))


def run(args):
    _check(args)
    spec = cluster_spec(args)
    state_dir = Path(args.state_dir) if args.state_dir else default_state_dir()
    options, selection = split_pytest_args(_pytest_args(args), Path.cwd(), PROJECT_ROOT)
    collection, options = _collection(args, options, selection, state_dir)
    durations = load_durations(state_dir)
    tasks = order_heaviest_first(group_by_file(collection, PROJECT_ROOT), durations,
                                 PROJECT_ROOT)
    tests = sum(len(task.node_ids) or 1 for task in tasks)
    progress(args, f"{tests} test(s) in {len(tasks)} file(s) on {_where(spec)}")

    task_options = TaskOptions(tuple(options), args.timeout, args.cache_dir)
    results = _run_on_cluster(args, spec, tasks, task_options) if tasks else []
    report = build_report(results)

    junit_path = Path(args.junitxml) if args.junitxml else state_dir / "junit.xml"
    _write_junit(report, junit_path, state_dir / "junit")
    if not args.last_failed:
        for result in results:
            if not result.lost:
                durations[result.task.name] = result.seconds
        save_durations(state_dir, durations)
    paths = {task.name: task.path for task in tasks}
    save_last_failed(state_dir, collection.rootdir, options, [
        {"nodeid": test.nodeid, "path": paths[row.file]}
        for row in report.tasks for test in row.tests if test.outcome in FAILING])

    data = report.to_json()
    data.update(junitxml=str(junit_path), closing=closing_line(report),
                exit_status=0 if report.failed == 0 else 1)
    emit(args, data, summary_text(report, str(junit_path)) + "\n" + closing_line(report))
    if args.json:
        progress(args, closing_line(report))
    return data["exit_status"]


def _run_on_cluster(args, spec: ClusterSpec, tasks, task_options: TaskOptions) -> list:
    """The tasks' results, with a progress line on stderr as each one finishes."""
    finished = 0

    def report_progress(result):
        nonlocal finished
        finished += 1
        row, _ = task_report(result)
        progress(args, progress_line(finished, len(tasks), row))

    try:
        with dask_client(spec) as client:
            return run_tasks(client, tasks, task_options, on_result=report_progress)
    except ClusterError as error:
        raise CommandError(str(error)) from None


def _write_junit(report, merged_path: Path, per_file_dir: Path) -> None:
    """The merged XML, and each file's suite alone under ``per_file_dir``."""
    per_file_dir.mkdir(parents=True, exist_ok=True)
    for old in per_file_dir.glob("*.xml"):
        old.unlink()
    for index, suite in enumerate(report.junit.getroot()):
        name = suite.get("name", "task").replace("/", "_").replace("..", "_")
        ET.ElementTree(suite).write(per_file_dir / f"{index:03d}_{name}.xml",
                                    encoding="utf-8", xml_declaration=True)
    merged_path.parent.mkdir(parents=True, exist_ok=True)
    report.junit.write(merged_path, encoding="utf-8", xml_declaration=True)
