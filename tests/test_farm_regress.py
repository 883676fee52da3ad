"""``rdu regress``: tests split by file and run on Dask workers; nothing lost on the way.

Planning (split, order by durations), the JUnit merge and the report are checked on
hand-made data; a local cluster runs a generated directory with a passing, a failing
and a crashing file; a ``dask scheduler`` with two ``dask worker`` processes on
127.0.0.1 loses a worker mid-run and every test still has an outcome.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from _pytest.junitxml import mangle_test_address

from testbench.cli.main import main
from testbench.farm.cluster import ClusterSpec
from testbench.farm.collect import (
    CollectedTest,
    Collection,
    collect,
    group_by_file,
    order_heaviest_first,
    split_pytest_args,
)
from testbench.farm.junit import junit_address
from testbench.farm.report import build_report, closing_line, failure_details, summary_text
from testbench.farm.sweep import SweepError, map_on_cluster, sweep_map, sweeping_on
from testbench.farm.tasks import Task, TaskOptions, TaskResult, run_task
from testbench.sim.toolchain import PROJECT_ROOT

# Generated test files: named sample_*.py so that pytest's own run of tests/ never
# collects them; passed to rdu regress by path, which pytest collects whatever the name.
SAMPLE_PASS = """
    def test_one():
        pass

    def test_two():
        pass
"""
SAMPLE_FAIL = """
    import pytest

    @pytest.mark.parametrize("seed", [1, 42], ids=["seed1", "seed42"])
    def test_random(seed):
        if seed == 42:
            raise AssertionError(f"1 cocotb test(s) failed on dut (seed {seed}).\\n"
                                 "log: /runs/test_random/sim.log\\n"
                                 "waves: /runs/test_random/test_random.fst\\n")
"""
SAMPLE_CRASH = """
    import os

    def test_before():
        pass

    def test_crash():
        os._exit(3)

    def test_after():
        pass
"""
SAMPLE_KILLS_WORKER = """
    import os
    import signal

    def test_kills_its_worker():
        os.kill(os.getppid(), signal.SIGKILL)  # pytest's parent is the Dask worker

    def test_never_runs():
        pass
"""
SAMPLE_SLEEP = """
    import time

    def test_first():
        time.sleep(1.5)

    def test_second():
        time.sleep(1.5)
"""


def _write_samples(directory: Path, samples: dict[str, str]) -> list[str]:
    """The sample test files, with a pytest.ini of their own: pytest's rootdir (and so the
    node ids) is then ``directory`` wherever the checkout and the temporary directory are."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "pytest.ini").write_text("[pytest]\n")
    for name, text in samples.items():
        (directory / name).write_text(textwrap.dedent(text))
    return [str(directory / name) for name in samples]


# -- planning ------------------------------------------------------------------------------


def test_pytest_args_split_into_options_and_a_selection(tmp_path):
    (tmp_path / "sample_a.py").write_text("")
    options, selection = split_pytest_args(
        ["-m", "not regress", "-k", "sample_a", "--seed", "3", "-x", "sample_a.py::test_x",
         "--", str(tmp_path), "-o", "python_files=sample_*.py", "no_such_file.py"],
        cwd=tmp_path, root=PROJECT_ROOT)
    assert options == ["-m", "not regress", "-k", "sample_a", "--seed", "3", "-x",
                       "-o", "python_files=sample_*.py", "no_such_file.py"]
    assert selection == [f"{tmp_path}/sample_a.py::test_x", str(tmp_path)]
    _, inside = split_pytest_args(["tests/test_cli.py"], cwd=PROJECT_ROOT, root=PROJECT_ROOT)
    assert inside == ["tests/test_cli.py"]  # relative to the checkout: the same on every node


def test_tasks_are_files_heaviest_first(tmp_path):
    rootdir = str(PROJECT_ROOT)
    tests = [CollectedTest(f"tests/{name}::test_{i}", f"{rootdir}/tests/{name}")
             for name, count in (("test_a.py", 1), ("test_b.py", 3), ("test_c.py", 2),
                                 ("test_d.py", 1)) for i in range(count)]
    broken = CollectedTest("tests/test_broken.py", f"{rootdir}/tests/test_broken.py")
    tasks = group_by_file(Collection(rootdir, tuple(tests), (broken,)), PROJECT_ROOT)
    by_name = {task.name: task for task in tasks}
    assert by_name["tests/test_b.py"].node_ids == tuple(f"tests/test_b.py::test_{i}"
                                                        for i in range(3))
    assert by_name["tests/test_b.py"].args == by_name["tests/test_b.py"].node_ids
    assert by_name["tests/test_broken.py"].args == ("tests/test_broken.py",)
    assert all(task.rootdir == "." for task in tasks)

    durations = {"tests/test_a.py": 5.0, "tests/test_c.py": 50.0, "tests/test_d.py": 20.0}
    ordered = [t.name for t in order_heaviest_first(tasks, durations, PROJECT_ROOT)]
    # Never timed first (most tests first), then the longest last time first.
    assert ordered == ["tests/test_b.py", "tests/test_broken.py", "tests/test_c.py",
                       "tests/test_d.py", "tests/test_a.py"]


@pytest.mark.parametrize("nodeid", [
    "tests/test_x.py::test_a", "tests/test_x.py::test_a[seed3]", "test_y.py::TestK::test_b[1-2]",
    "a/b/test_z.py::test_c[x.y/z]", "../../tmp/sample_q.py::test_d",
])
def test_junit_address_is_pytests(nodeid):
    names = mangle_test_address(nodeid)
    assert junit_address(nodeid) == (".".join(names[:-1]), names[-1])


@pytest.mark.parametrize("text,expected", [
    ("3 cocotb test(s) of m failed on dut (seed 17).\nlog: /r/sim.log\nwaves: /r/w.fst\n",
     (17, "/r/w.fst", "/r/sim.log")),
    ("mismatch at beat 4 (seed=5)", (5, None, None)),
    ("no details here", (9, None, None)),  # from the test id
])
def test_failure_text_gives_seed_and_paths(text, expected):
    assert failure_details("tests/test_x.py::test_a[seed9]", text) == expected


def test_task_runs_pytest_in_the_checkout_with_this_python_and_the_cache_dir(tmp_path):
    cache = tmp_path / "cache"
    files = _write_samples(tmp_path / "suite", {"sample_env.py": f"""
        import os
        import sys

        def test_environment():
            assert os.getcwd() == {str(PROJECT_ROOT)!r}
            assert sys.executable == {sys.executable!r}
            assert os.environ["RDU_SIM_BUILD"] == {str(cache)!r}
    """})
    (task,) = group_by_file(collect(files, PROJECT_ROOT), PROJECT_ROOT)
    result = run_task(task, TaskOptions(("-p", "no:cacheprovider"), timeout=120,
                                        cache_dir=str(cache)))
    assert result.returncode == 0, result.output_tail
    assert 'name="test_environment"' in result.junit_xml
    assert result.finished == {"sample_env.py::test_environment": {
        "outcome": "passed", "seconds": pytest.approx(0, abs=5), "message": ""}}


# -- report --------------------------------------------------------------------------------


def _task(name, *tests):
    node_ids = tuple(f"{name}::{t}" for t in tests)
    return Task(name=name, path=f"tests/{name}", rootdir=".", node_ids=node_ids, args=node_ids)


def _junit(name, cases):
    classname = name.removesuffix(".py")
    body = "".join(f'<testcase classname="{classname}" name="{test}" time="0.5">{inner}'
                   "</testcase>" for test, inner in cases)
    return f'<testsuites><testsuite name="pytest" time="1.0">{body}</testsuite></testsuites>'


def test_report_merges_junit_and_keeps_crashed_and_lost_tests():
    failure = ('<failure message="1 cocotb test(s) failed on dut (seed 7).&#10;'
               'waves: /runs/t/t.fst">trace</failure>')
    results = [
        TaskResult(_task("test_a.py", "test_ok", "test_bad[seed7]", "test_skip"),
                   returncode=1, seconds=3.0, worker="tcp://w1", host="n1",
                   junit_xml=_junit("test_a.py", [("test_ok", ""), ("test_bad[seed7]", failure),
                                                  ("test_skip", "<skipped message='no'/>")])),
        TaskResult(_task("test_b.py", "test_1", "test_2", "test_3"), returncode=-9,
                   seconds=2.0, worker="tcp://w2", host="n2", output_tail="Segmentation",
                   finished={"test_b.py::test_1": {"outcome": "passed", "seconds": 0.1},
                             "test_b.py::test_2": {"outcome": "failed", "seconds": 0.2,
                                                   "message": "    check()\nE   AssertionError:"
                                                              " beat 3 (seed 5)\nE   waves: /w"}}),
        TaskResult(_task("test_c.py", "test_x", "test_y"),
                   lost="KilledWorker: attempted to run task on 2 workers"),
        TaskResult(_task("test_d.py", "test_slow"), returncode=-9, seconds=60.0,
                   timed_out=True, junit_xml=None),
    ]
    report = build_report(results)
    assert report.totals == {"passed": 2, "skipped": 1, "failed": 2, "error": 0,
                             "crashed": 1, "timeout": 1, "lost": 2}
    assert closing_line(report) == "2 passed, 6 failed, 1 skipped"
    rows = {row.file: row for row in report.tasks}
    assert [row.status for row in report.tasks] == ["failed", "crashed", "lost", "timeout"]
    assert "killed by signal 9" in rows["test_b.py"].reason
    assert {t.nodeid: t.outcome for t in rows["test_c.py"].tests} == {
        "test_c.py::test_x": "lost", "test_c.py::test_y": "lost"}
    bad = next(t for t in report.failures() if t.nodeid.endswith("test_bad[seed7]"))
    assert (bad.seed, bad.waves) == (7, "/runs/t/t.fst")
    # Finished before its pytest crashed: its outcome comes from the plugin's record.
    before_crash = next(t for t in rows["test_b.py"].tests if t.nodeid.endswith("test_2"))
    assert (before_crash.outcome, before_crash.message, before_crash.seed,
            before_crash.waves) == ("failed", "AssertionError: beat 3 (seed 5)", 5, "/w")
    assert rows["test_b.py"].tests[2].outcome == "crashed"

    root = report.junit.getroot()
    assert [s.get("name") for s in root] == ["test_a.py", "test_b.py", "test_c.py", "test_d.py"]
    assert {k: root.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "9", "failures": "2", "errors": "4", "skipped": "1"}
    lost = root.find("testsuite[@name='test_c.py']/testcase[@name='test_y']/error")
    assert lost.get("message").startswith("lost: KilledWorker")
    text = summary_text(report, "junit.xml")
    assert "FAILED   test_a.py::test_bad[seed7]  seed 7  waves: /runs/t/t.fst" in text
    assert "LOST     test_c.py::test_x" in text


# -- runs ----------------------------------------------------------------------------------


def test_local_cluster_run_reports_failures_crashes_and_reruns_them(tmp_path, capsys):
    files = _write_samples(tmp_path / "suite", {"sample_pass.py": SAMPLE_PASS,
                                                "sample_fail.py": SAMPLE_FAIL,
                                                "sample_crash.py": SAMPLE_CRASH})
    state = tmp_path / "state"
    merged = tmp_path / "merged.xml"
    common = ["regress", "--workers", "2", "--state-dir", str(state), "--json"]
    status = main([*common, "--junitxml", str(merged), "--timeout", "120", "--",
                   "-p", "no:cacheprovider", *files])
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert status == 1 and report["exit_status"] == 1
    assert report["closing"] == "4 passed, 3 failed"
    assert captured.err.strip().splitlines()[-1] == "4 passed, 3 failed"
    assert "[3/3] " in captured.err
    outcomes = {t["nodeid"]: t["outcome"] for row in report["files"] for t in row["tests"]}
    assert outcomes == {
        "sample_pass.py::test_one": "passed", "sample_pass.py::test_two": "passed",
        "sample_fail.py::test_random[seed1]": "passed",
        "sample_fail.py::test_random[seed42]": "failed",
        "sample_crash.py::test_before": "passed",  # finished before the crash
        "sample_crash.py::test_crash": "crashed", "sample_crash.py::test_after": "crashed"}
    failed = next(t for t in report["failures"] if t["outcome"] == "failed")
    assert (failed["seed"], failed["waves"], failed["log"]) == (
        42, "/runs/test_random/test_random.fst", "/runs/test_random/sim.log")
    crash_row = next(row for row in report["files"] if row["file"] == "sample_crash.py")
    assert crash_row["status"] == "crashed" and "status 3" in crash_row["reason"]
    suites = ET.parse(merged).getroot()
    assert suites.get("tests") == "7" and suites.get("failures") == "1"
    assert suites.get("errors") == "2"
    assert len(list((state / "junit").glob("*.xml"))) == 3
    assert set(json.loads((state / "durations.json").read_text())) == {
        "sample_pass.py", "sample_fail.py", "sample_crash.py"}

    status = main([*common, "--last-failed"])
    rerun = json.loads(capsys.readouterr().out)
    assert status == 1
    assert {t["nodeid"]: t["outcome"] for row in rerun["files"] for t in row["tests"]} == {
        "sample_fail.py::test_random[seed42]": "failed",
        "sample_crash.py::test_crash": "crashed", "sample_crash.py::test_after": "crashed"}
    assert rerun["closing"] == "0 passed, 3 failed"


def test_task_that_kills_its_worker_twice_is_reported_lost(tmp_path, capsys):
    files = _write_samples(tmp_path / "suite", {"sample_kills_worker.py": SAMPLE_KILLS_WORKER})
    status = main(["regress", "--workers", "1", "--state-dir", str(tmp_path / "state"),
                   "--json", "--", "-p", "no:cacheprovider", *files])
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert status == 1
    (row,) = report["files"]
    # Rescheduled once when its worker died, then given up (KilledWorker) when it died again.
    assert row["status"] == "lost" and "KilledWorker" in row["reason"]
    assert len(row["started_on"]) == 2
    assert {t["nodeid"]: t["outcome"] for t in row["tests"]} == {
        "sample_kills_worker.py::test_kills_its_worker": "lost",
        "sample_kills_worker.py::test_never_runs": "lost"}
    assert report["closing"] == "0 passed, 2 failed"


@pytest.mark.parametrize("argv,needle", [
    (["--workers", "0"], "--workers must be at least 1"),
    (["--timeout", "0"], "--timeout must be positive"),
    (["--scheduler", "tcp://127.0.0.1:1", "--cluster", "slurm"], "exclude each other"),
    (["--queue", "short"], "--queue: only with --cluster"),
    (["--last-failed"], "no previous rdu regress run"),
    (["--", "--no-such-pytest-option"], "pytest could not collect"),
])
def test_bad_input_is_a_clear_error(argv, needle, tmp_path, capsys):
    assert main(["regress", "--state-dir", str(tmp_path), *argv]) == 2
    assert needle in capsys.readouterr().err


def test_batch_cluster_without_its_batch_system_is_a_clear_error(tmp_path, capsys):
    if any(Path(d, "sbatch").exists() for d in os.environ.get("PATH", "").split(os.pathsep)):
        pytest.skip("this machine has Slurm")
    argv = ["regress", "--cluster", "slurm", "--memory", "4GB", "--state-dir", str(tmp_path)]
    assert main(argv) == 2
    assert "'sbatch' is not on PATH" in capsys.readouterr().err


def test_map_on_cluster_keeps_order_and_names_the_failing_item():
    assert map_on_cluster(abs, [-3, 2, -1], cluster="inline") == [3, 2, 1]
    assert map_on_cluster(abs, [-3, 2, -1], workers=1) == [3, 2, 1]
    with pytest.raises(SweepError, match=r"sqrt\(-1\) failed: ValueError"):
        map_on_cluster(__import__("math").sqrt, [4, -1], cluster="inline")


def _logged_abs(value, log=None):
    if log is not None:
        log(f"abs({value})")
    return abs(value)


def test_sweep_map_runs_here_with_progress_or_on_the_open_cluster():
    lines = []
    assert sweep_map(_logged_abs, [-3, 2], log=lines.append) == [3, 2]
    assert lines == ["abs(-3)", "abs(2)"]
    with sweeping_on(ClusterSpec(workers=1)) as client:
        assert sweep_map(abs, [-3, 2, -1]) == [3, 2, 1]
        assert client.scheduler_info()["workers"]
        # on the cluster a line per finished point comes from here, not the worker
        lines.clear()
        assert sweep_map(_logged_abs, [-3, 2], log=lines.append) == [3, 2]
        assert lines[0] == "2 point(s) of _logged_abs on the Dask cluster"
        counts, points = zip(*(line.split(" ", 1) for line in lines[1:]), strict=True)
        assert counts == ("[1/2]", "[2/2]") and sorted(points) == ["-3 done", "2 done"]
        assert sweep_map(abs, [4], log=lines.append,
                         describe=lambda item, result: f"abs({item}) = {result}") == [4]
        assert lines[-1] == "abs(4) = 4"
        with pytest.raises(SweepError, match=r"sqrt\(-1\) failed: ValueError"):
            sweep_map(__import__("math").sqrt, [4, -1])
    assert sweep_map(abs, [-5]) == [5]   # the cluster is closed: here again


@pytest.mark.parametrize("argv,needle", [
    (["--scheduler", "tcp://127.0.0.1:1"], "cannot reach the Dask scheduler"),
    (["--workers", "0"], "--workers must be at least 1"),
    (["--memory", "4GB"], "--memory: only with --cluster"),
])
def test_bench_on_a_cluster_bad_input_is_a_clear_error(argv, needle, capsys):
    assert main(["bench", "coe", *argv]) == 2
    assert needle in capsys.readouterr().err


# -- a real scheduler, a worker killed mid-run ----------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    """Stop a process started in its own session, with everything it started."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 15)):
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue


def _pytests_of(directory: Path) -> list[int]:
    """Processes still running a pytest on the generated files (none should outlive a run)."""
    import psutil

    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if process.info["pid"] != os.getpid() and any(str(directory) in a for a in cmdline):
            found.append(process.info["pid"])
    return found


def test_killed_worker_loses_no_test(tmp_path):
    """Kill the worker running a task: the task is rerun on the other one (or reported lost)."""
    from distributed import Client

    files = _write_samples(tmp_path / "suite", {f"sample_sleep_{c}.py": SAMPLE_SLEEP
                                                for c in "abc"})
    dask = str(Path(sys.executable).parent / "dask")
    address = f"tcp://127.0.0.1:{_free_port()}"
    cluster: list[subprocess.Popen] = []
    regress = None

    def start(*argv):
        log = open(tmp_path / f"dask_{len(cluster)}.log", "w")
        cluster.append(subprocess.Popen([dask, *argv], stdout=log, stderr=subprocess.STDOUT,
                                        cwd=tmp_path, start_new_session=True))
        log.close()
        return cluster[-1]

    # Their HTTP servers listen even with --no-dashboard: on 127.0.0.1 too.
    local_only = ["--host", "127.0.0.1", "--no-dashboard", "--dashboard-address", "127.0.0.1:0"]
    try:
        start("scheduler", *local_only, "--port", address.rsplit(":", 1)[1])
        for i in range(2):
            start("worker", address, *local_only, "--nthreads", "1", "--name", f"worker-{i}",
                  "--death-timeout", "60")
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=60)
            regress = subprocess.Popen(
                [sys.executable, "-m", "testbench.cli.main", "regress", "--scheduler", address,
                 "--json", "--state-dir", str(tmp_path / "state"), "--timeout", "120", "--",
                 "-p", "no:cacheprovider", *files],
                cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                start_new_session=True)
            # Each task logs a Dask event when it starts: kill the worker of the first.
            started, deadline = [], time.monotonic() + 90
            while not started and time.monotonic() < deadline:
                started = [msg for topic, events in client.get_events().items()
                           if topic.startswith("rdu-regress-") for _, msg in events]
                time.sleep(0.1)
            assert started, "no rdu regress task ever started"
            victim, held = started[0]["worker"], started[0]["task"]
            time.sleep(1.0)  # its pytest is in the middle of the sleeping tests
            nanny = client.run(os.getppid, workers=[victim])[victim]
            killed = next(p for p in cluster if p.pid == nanny)
            os.killpg(killed.pid, signal.SIGKILL)
            killed.wait(timeout=30)
        out, err = regress.communicate(timeout=240)
        report = json.loads(out)
        outcomes = {t["nodeid"]: t["outcome"] for row in report["files"] for t in row["tests"]}
        expected = {f"sample_sleep_{c}.py::test_{n}" for c in "abc" for n in ("first", "second")}
        assert set(outcomes) == expected, err
        assert set(outcomes.values()) <= {"passed", "lost"}, err
        killed_file = next(row for row in report["files"] if row["file"] == held)
        assert killed_file["started_on"][0] == victim
        if killed_file["status"] == "passed":  # rerun on the surviving worker
            assert killed_file["worker"] != victim and len(killed_file["started_on"]) == 2
            assert f"rerun: started on {victim}, " in err
        assert report["exit_status"] == (0 if set(outcomes.values()) == {"passed"} else 1)
        assert regress.returncode == report["exit_status"]
        # The killed worker's pytest died with it (it does not run on beside the rerun).
        assert _pytests_of(tmp_path / "suite") == []
    finally:
        if regress is not None:
            _stop(regress)
        for process in reversed(cluster):
            _stop(process)
        for pid in _pytests_of(tmp_path / "suite"):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
