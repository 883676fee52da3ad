"""What ``rdu regress`` keeps between runs, as JSON under ``sim_build/regress/``.

``durations.json``: seconds per file of its last full run (orders the next run).
``last_failed.json``: the tests that failed, errored, crashed, timed out or were lost,
with the pytest options of that run (``--last-failed`` reruns them).
"""

import json
import os
import tempfile
from pathlib import Path

__all__ = ["DURATIONS", "LAST_FAILED", "default_state_dir", "load_durations",
           "save_durations", "load_last_failed", "save_last_failed"]

DURATIONS = "durations.json"
LAST_FAILED = "last_failed.json"


def default_state_dir() -> Path:
    """``sim_build/regress`` of this checkout (``RDU_SIM_BUILD`` moves sim_build)."""
    from testbench.sim.toolchain import SIM_BUILD

    return SIM_BUILD / "regress"


def _write_json(path: Path, data) -> None:
    """Write atomically: a run interrupted mid-write leaves the previous file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
        handle.write("\n")
    os.replace(tmp, path)


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def load_durations(state_dir: Path) -> dict[str, float]:
    """Seconds per file name; empty when never measured or unreadable."""
    data = _read_json(state_dir / DURATIONS)
    if not isinstance(data, dict):
        return {}
    return {name: float(s) for name, s in data.items() if isinstance(s, int | float)}


def save_durations(state_dir: Path, durations: dict[str, float]) -> None:
    """Store seconds per file name (merged by the caller with the previous ones)."""
    _write_json(state_dir / DURATIONS, {name: round(s, 2) for name, s in durations.items()})


def load_last_failed(state_dir: Path) -> dict | None:
    """``{"rootdir", "pytest_options", "tests": [{"nodeid", "path"}]}`` or None."""
    data = _read_json(state_dir / LAST_FAILED)
    if not isinstance(data, dict) or not isinstance(data.get("tests"), list):
        return None
    return data


def save_last_failed(state_dir: Path, rootdir: str, pytest_options: list[str],
                     tests: list[dict]) -> None:
    """Store the failing tests of a run (an empty list when everything passed)."""
    _write_json(state_dir / LAST_FAILED, {"rootdir": rootdir,
                                          "pytest_options": list(pytest_options),
                                          "tests": tests})
