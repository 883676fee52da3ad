"""pytest plugin of ``rdu regress``: records the collected tests and each finished test.

Loaded with ``-p testbench.farm.pytest_plugin`` and inactive unless the environment
variable ``RDU_FARM_EVENTS`` names a file. Every record is one JSON line, appended
and closed at once, so the tests that a crashed or killed pytest finished can still
be read.
"""

import json
import os

EVENTS_ENV = "RDU_FARM_EVENTS"
MESSAGE_CHARS = 8000

_outcomes: dict[str, dict] = {}


def _write(record: dict) -> None:
    path = os.environ.get(EVENTS_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as events:
            events.write(json.dumps(record) + "\n")


def _is_xdist_worker(config) -> bool:
    return hasattr(config, "workerinput")


def pytest_collectreport(report):
    """A file that fails to collect (import error, syntax error)."""
    if report.failed:
        _write({"collect_error": report.nodeid,
                "message": str(report.longrepr)[-MESSAGE_CHARS:]})


def pytest_collection_finish(session):
    """The collected tests with their files and pytest's rootdir (``--collect-only`` only)."""
    config = session.config
    if config.option.collectonly and not _is_xdist_worker(config):
        _write({"rootdir": str(config.rootpath),
                "items": [{"nodeid": item.nodeid, "path": str(item.path)}
                          for item in session.items]})


def pytest_runtest_logreport(report):
    """One record per test, written after its teardown, with the worst phase's outcome."""
    state = _outcomes.setdefault(report.nodeid, {"outcome": "passed", "seconds": 0.0,
                                                 "message": ""})
    state["seconds"] += report.duration
    if report.failed and state["outcome"] not in ("failed", "error"):
        state["outcome"] = "failed" if report.when == "call" else "error"
        state["message"] = report.longreprtext[-MESSAGE_CHARS:]
    elif report.skipped and state["outcome"] == "passed":
        state["outcome"] = "skipped"
    if report.when == "teardown":
        _outcomes.pop(report.nodeid)
        _write({"nodeid": report.nodeid, **state})
