"""Which tests a regression runs: pytest's collection, split into one task per file.

A file's tests share Verilator builds, so they stay together on one worker. Tasks
are ordered heaviest first (by the durations of the last run) so that the long
files do not start last and leave the other workers idle at the end.
"""

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .pytest_plugin import EVENTS_ENV
from .tasks import PLUGIN, Task, clean_environment

__all__ = ["CollectedTest", "Collection", "CollectionError", "collect", "file_part",
           "group_by_file", "order_heaviest_first", "portable_path", "split_pytest_args"]

# pytest options whose value is the next argument (when not written --option=value).
VALUE_OPTIONS = frozenset({
    "-k", "-m", "-p", "-o", "--override-ini", "-c", "--config-file", "-W", "--pythonwarnings",
    "--rootdir", "--confcutdir", "--basetemp", "--deselect", "--ignore", "--ignore-glob",
    "--maxfail", "--tb", "-r", "--durations", "--durations-min", "--import-mode", "--capture",
    "--log-level", "--log-cli-level", "--log-file", "--log-file-level", "--log-format",
    "--junit-prefix", "--junitxml", "--junit-xml", "-n", "--numprocesses", "--dist",
    "--maxprocesses", "--color", "--code-highlight", "--doctest-glob", "--seed",
})


class CollectionError(RuntimeError):
    """pytest could not collect the selection (bad option, missing file)."""


@dataclass(frozen=True)
class CollectedTest:
    """One collected test (or a file that failed to collect): its node id and file."""

    nodeid: str
    path: str


@dataclass(frozen=True)
class Collection:
    """pytest's collection: the tests, the files that failed to collect, pytest's rootdir."""

    rootdir: str
    tests: tuple[CollectedTest, ...]
    errors: tuple[CollectedTest, ...] = ()


def file_part(nodeid: str) -> str:
    """The file of a node id: ``tests/test_x.py`` of ``tests/test_x.py::test_a[1]``."""
    return nodeid.split("::", 1)[0]


def split_pytest_args(args, cwd: Path, root: Path) -> tuple[list[str], list[str]]:
    """Split pytest arguments into options (kept by every task) and the selection.

    The selection is the positional arguments naming existing files, directories or
    node ids; they are rewritten relative to ``root`` (or absolute outside it) since
    pytest runs in the checkout, not in the caller's directory.
    """
    options, selection = [], []
    args = list(args)
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg == "--":
            continue
        if arg.startswith("-"):
            options.append(arg)
            if arg in VALUE_OPTIONS and index < len(args):
                options.append(args[index])
                index += 1
            continue
        head, sep, rest = arg.partition("::")
        path = (cwd / head).resolve()
        if head and path.exists():
            selection.append(portable_path(path, root) + sep + rest)
        else:
            options.append(arg)
    return options, selection


def portable_path(path: Path, root: Path) -> str:
    """``path`` relative to the checkout when inside it (the same on every node), else absolute.

    A relative ``path`` is taken as relative to ``root``.
    """
    path = (root / path).resolve()
    try:
        return str(path.relative_to(root.resolve())) or "."
    except ValueError:
        return str(path)


def collect(pytest_args, root: Path) -> Collection:
    """Run ``pytest --collect-only -q`` in the checkout; return what it collected."""
    with tempfile.TemporaryDirectory(prefix="rdu-collect-") as tmp:
        events_path = Path(tmp) / "events.jsonl"
        env = clean_environment()
        env[EVENTS_ENV] = str(events_path)
        command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", PLUGIN,
                   *pytest_args]
        done = subprocess.run(command, cwd=root, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, errors="replace")
        records = _read_records(events_path)
    found = [r for r in records if "rootdir" in r]
    # 0: collected; 2: some files failed to collect (their tasks report it); 5: none selected.
    if done.returncode not in (0, 2, 5) or not found:
        tail = "\n".join(done.stdout.strip().splitlines()[-15:])
        raise CollectionError(f"pytest could not collect the tests "
                              f"(exit status {done.returncode}):\n{tail}")
    rootdir = Path(found[-1]["rootdir"])
    tests = tuple(CollectedTest(item["nodeid"], item["path"]) for item in found[-1]["items"])
    errors = tuple(CollectedTest(r["collect_error"],
                                 str(rootdir / file_part(r["collect_error"])))
                   for r in records if r.get("collect_error"))
    return Collection(str(rootdir), tests, errors)


def _read_records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def group_by_file(collection: Collection, root: Path) -> list[Task]:
    """One task per file, holding that file's tests in collection order."""
    by_path: dict[str, list[CollectedTest]] = {}
    for test in (*collection.tests, *collection.errors):
        by_path.setdefault(test.path, []).append(test)
    rootdir = portable_path(Path(collection.rootdir), root)
    tasks = []
    for path, tests in by_path.items():
        path_arg = portable_path(Path(path), root)
        # A file that failed to collect is run whole, so that its task reports the error.
        node_ids = tuple(t.nodeid for t in tests if "::" in t.nodeid)
        whole_file = len(node_ids) < len(tests)
        args = (path_arg,) if whole_file else tuple(
            path_arg + t.nodeid[len(file_part(t.nodeid)):] for t in tests)
        name = file_part(tests[0].nodeid) or path_arg
        tasks.append(Task(name=name, path=path_arg, rootdir=rootdir, node_ids=node_ids,
                          args=args))
    return tasks


def order_heaviest_first(tasks: list[Task], durations: dict[str, float],
                         root: Path) -> list[Task]:
    """Files never timed first (most tests, then largest file), then by last duration."""
    def size(task: Task) -> int:
        try:
            return os.stat(root / task.path).st_size
        except OSError:
            return 0

    unknown = [t for t in tasks if t.name not in durations]
    known = [t for t in tasks if t.name in durations]
    unknown.sort(key=lambda t: (len(t.node_ids), size(t)), reverse=True)
    known.sort(key=lambda t: durations[t.name], reverse=True)
    return unknown + known
