"""The regression's report: every test's outcome, one row per file, failures with seeds.

Each test a task held gets an outcome: from the task's JUnit XML; else from the
plugin's record of the tests it finished; else the task's fate (``crashed``,
``timeout`` or ``lost``). Failure texts are searched for the seed and the paths
the project's tests name (``seed N``, ``waves: PATH``, ``log: PATH``).
"""

import re
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field

from .junit import case_element, junit_address, merge_suites, parse_junit
from .tasks import TaskResult

__all__ = ["TestOutcome", "TaskReport", "Report", "task_report", "build_report",
           "failure_details", "progress_line", "summary_text", "closing_line"]

FAILING = ("failed", "error", "crashed", "timeout", "lost")
DETAILS_CHARS = 4000
_SEED = re.compile(r"\bseed\D{0,3}?(\d+)", re.IGNORECASE)
_WAVES = re.compile(r"(?:^|\s)waves:\s*(\S+)")
_LOG = re.compile(r"(?:^|\s)log:\s*(\S+)")


@dataclass
class TestOutcome:
    """One test's outcome, with what its failure text says about reproducing it."""

    __test__ = False  # not a pytest test class

    nodeid: str
    outcome: str
    message: str = ""
    seconds: float = 0.0
    details: str = ""
    seed: int | None = None
    waves: str | None = None
    log: str | None = None


@dataclass
class TaskReport:
    """One file's row: its status, counts, where it ran (``started_on``: every worker that
    started it, in order), and its tests."""

    file: str
    status: str
    reason: str
    seconds: float
    worker: str
    host: str
    tests: list[TestOutcome]
    output_tail: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    started_on: list[str] = field(default_factory=list)

    @property
    def reruns(self) -> int:
        """How many times the task was started again after its worker died."""
        return max(0, len(self.started_on) - 1)


@dataclass
class Report:
    """The whole run: rows in task order, totals, and the merged JUnit document."""

    tasks: list[TaskReport]
    totals: dict[str, int]
    junit: ET.ElementTree

    @property
    def failed(self) -> int:
        """Tests that did not pass or skip: failed, errors, crashed, timed out, lost."""
        return sum(self.totals[key] for key in FAILING)

    def failures(self) -> list[TestOutcome]:
        """The failing tests, in task order."""
        return [t for task in self.tasks for t in task.tests if t.outcome in FAILING]

    def to_json(self) -> dict:
        """The report as plain data (``--json``)."""
        return {"files": [asdict(task) for task in self.tasks], "totals": self.totals,
                "failures": [asdict(t) for t in self.failures()]}


def failure_details(nodeid: str, text: str) -> tuple[int | None, str | None, str | None]:
    """The (seed, waves path, log path) named by a failure text or the test's id."""
    seed = _SEED.search(text) or _SEED.search(nodeid)
    waves, log = _WAVES.search(text), _LOG.search(text)
    return (int(seed.group(1)) if seed else None, waves.group(1) if waves else None,
            log.group(1) if log else None)


def _fate(result: TaskResult) -> tuple[str, str]:
    """What happened to the task as a whole, when not every test has an outcome."""
    if result.lost:
        return "lost", result.lost
    if result.timed_out:
        return "timeout", f"killed by --timeout after {result.seconds:.0f} s"
    code = result.returncode
    if code is not None and code < 0:
        return "crashed", f"pytest killed by signal {-code} on {result.worker}"
    return "crashed", f"pytest exited with status {code} on {result.worker}"


def task_report(result: TaskResult) -> tuple[TaskReport, ET.Element]:
    """The row of one task and its ``<testsuite>`` for the merged JUnit XML."""
    task = result.task
    suite, cases = None, []
    if result.junit_xml:
        try:
            root, cases = parse_junit(result.junit_xml)
            suite = root if root.tag == "testsuite" else root.find("testsuite")
        except ET.ParseError:
            suite, cases = None, []
    complete_xml = suite is not None
    if suite is None:
        suite = ET.Element("testsuite", time=f"{result.seconds:.3f}")
    suite.set("name", task.name)
    suite.set("hostname", result.host or result.worker)

    by_address = {junit_address(nodeid): nodeid for nodeid in task.node_ids}
    outcomes: dict[str, TestOutcome] = {}
    for case in cases:
        nodeid = by_address.get((case.classname, case.name))
        if nodeid is None:  # e.g. the error of a file that failed to collect
            nodeid = task.name if not task.node_ids else f"{task.name}::{case.name}"
        outcomes[nodeid] = TestOutcome(nodeid, case.outcome, case.message, case.seconds)
        if case.outcome in FAILING:
            _add_details(outcomes[nodeid], case.text)

    fate, reason = _fate(result)
    held = task.node_ids or ((task.name,) if not outcomes else ())
    missing = [nodeid for nodeid in held if nodeid not in outcomes]
    output_shown = False
    for nodeid in missing:
        record = result.finished.get(nodeid)
        if record:
            text = record.get("message", "")
            outcome = TestOutcome(nodeid, record["outcome"], _error_line(text),
                                  record.get("seconds", 0.0))
            if outcome.outcome in FAILING:
                _add_details(outcome, text)
        else:
            outcome = TestOutcome(nodeid, fate, reason)
            # The task's output once, with the first test it did not finish. Its seed is
            # the one in the test id: the output may name other tests' seeds.
            text = "" if output_shown else result.output_tail
            output_shown = True
            outcome.details = text[-DETAILS_CHARS:]
            outcome.seed = failure_details(nodeid, "")[0]
        outcomes[nodeid] = outcome
        suite.append(case_element(nodeid, outcome.outcome, outcome.message, text,
                                  outcome.seconds))

    ordered = [outcomes[n] for n in task.node_ids if n in outcomes]
    ordered += [o for n, o in outcomes.items() if n not in task.node_ids]
    counts = _count(ordered)
    if result.lost or result.timed_out or not complete_xml or missing \
            or result.returncode not in (0, 1, 2, 5):
        status = fate
    elif any(counts[key] for key in FAILING):
        status, reason = "failed", ""
    else:
        status, reason = "passed", ""
    row = TaskReport(file=task.name, status=status, reason=reason,
                     seconds=round(result.seconds, 2), worker=result.worker, host=result.host,
                     tests=ordered, counts=counts,
                     output_tail=result.output_tail if status == fate else "",
                     started_on=list(result.started_on))
    return row, suite


def _add_details(outcome: TestOutcome, text: str) -> None:
    outcome.details = text[-DETAILS_CHARS:]
    outcome.seed, outcome.waves, outcome.log = failure_details(
        outcome.nodeid, f"{outcome.message}\n{text}")


def _error_line(text: str) -> str:
    """The first ``E   ...`` line of a pytest failure text (the exception), else its first."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return next((line[1:].strip() for line in lines if line.startswith("E ")),
                lines[0] if lines else "")


def _headline(test: TestOutcome) -> list[str]:
    """The first line of the message, and the error line of the text if it says more."""
    lines = [line.strip() for line in test.message.splitlines() if line.strip()][:1]
    error = next((line[1:].strip() for line in test.details.splitlines()
                  if line.startswith("E ")), "")
    if error and not any(error in line for line in lines):
        lines.append(error)
    return [line[:160] for line in lines]


def _count(tests: list[TestOutcome]) -> dict[str, int]:
    counts = dict.fromkeys(("passed", "skipped", *FAILING), 0)
    for test in tests:
        counts[test.outcome] = counts.get(test.outcome, 0) + 1
    return counts


def build_report(results: list[TaskResult]) -> Report:
    """The report of a run (results in the order the tasks were planned)."""
    rows, suites = [], []
    for result in results:
        row, suite = task_report(result)
        rows.append(row)
        suites.append(suite)
    totals = dict.fromkeys(("passed", "skipped", *FAILING), 0)
    for row in rows:
        for key, value in row.counts.items():
            totals[key] = totals.get(key, 0) + value
    return Report(rows, totals, merge_suites(suites))


def _counts_text(counts: dict[str, int]) -> str:
    parts = [f"{counts[key]} {key}" for key in ("passed", *FAILING, "skipped")
             if counts.get(key)]
    return ", ".join(parts) or "no tests"


def progress_line(done: int, total: int, row: TaskReport) -> str:
    """``[3/12] tests/test_x.py: 5 passed in 12.3 s on tcp://...`` for one finished task."""
    status = f"{row.status} ({row.reason}); " if row.reason else ""
    where = f" on {row.worker}" if row.worker else ""
    if row.reruns:
        where += f" (rerun: started on {', '.join(row.started_on)})"
    return f"[{done}/{total}] {row.file}: {status}{_counts_text(row.counts)} " \
           f"in {row.seconds:.1f} s{where}"


def summary_text(report: Report, junit_path: str | None = None) -> str:
    """The table (one row per file), the failing tests with seed and paths, the JUnit path."""
    width = max([len("file"), *(len(row.file) for row in report.tasks)])
    lines = [f"{'file':{width}}  {'passed':>6} {'failed':>6} {'errors':>6} {'skipped':>7} "
             f"{'seconds':>8}  {'status':8} worker"]
    for row in report.tasks:
        c = row.counts
        errors = c["error"] + c["crashed"] + c["timeout"] + c["lost"]
        lines.append(f"{row.file:{width}}  {c['passed']:6d} {c['failed']:6d} {errors:6d} "
                     f"{c['skipped']:7d} {row.seconds:8.1f}  {row.status:8} {row.worker}")
    for row in report.tasks:
        if row.reruns:
            lines.append(f"  {row.file}: started {len(row.started_on)} times, on "
                         f"{', '.join(row.started_on)} (workers died)")
    failures = report.failures()
    if failures:
        lines.append("")
        lines.append("failing tests:")
    for test in failures:
        details = [f"seed {test.seed}" if test.seed is not None else "",
                   f"waves: {test.waves}" if test.waves else "",
                   f"log: {test.log}" if test.log else ""]
        lines.append("  ".join([f"  {test.outcome.upper():8} {test.nodeid}",
                                *(d for d in details if d)]))
        lines += [f"           {line}" for line in _headline(test)]
    crashed = [row for row in report.tasks if row.output_tail]
    for row in crashed:
        lines.append("")
        lines.append(f"last output of {row.file} ({row.status}):")
        lines += [f"  | {line}" for line in row.output_tail.strip().splitlines()[-12:]]
    if junit_path:
        lines.append("")
        lines.append(f"junit xml: {junit_path}")
    return "\n".join(lines)


def closing_line(report: Report) -> str:
    """``N passed, N failed`` (``, N skipped`` when any were): the last line of a run."""
    line = f"{report.totals['passed']} passed, {report.failed} failed"
    if report.totals["skipped"]:
        line += f", {report.totals['skipped']} skipped"
    return line
