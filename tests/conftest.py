"""pytest options shared by every testbench (--seed and --waves) and the file order."""

import json
from pathlib import Path

import pytest

#: seconds per test file of a full run (`rdu regress` writes sim_build/regress/durations.json;
#: copy it here to refresh the order)
DURATIONS = Path(__file__).with_name("durations.json")


def pytest_addoption(parser):
    group = parser.getgroup("rdu", "RDU testbench")
    group.addoption("--seed", type=int, default=None,
                    help="run every randomised test with this seed only (reproduce a failure)")
    group.addoption("--waves", action="store_true", default=False,
                    help="build with tracing and write a waveform per test under sim_build/runs/")


def pytest_generate_tests(metafunc):
    """A test that takes ``seed`` runs over its ``SEEDS`` list, or the one --seed given."""
    if "seed" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("seed")
        seeds = [chosen] if chosen is not None else getattr(metafunc.module, "SEEDS", [1])
        metafunc.parametrize("seed", seeds, ids=[f"seed{s}" for s in seeds])


@pytest.fixture
def waves(request) -> bool:
    return request.config.getoption("waves")


@pytest.fixture
def run_name(request) -> str:
    """A file-system-safe name for this test's run directory and waveform."""
    return request.node.nodeid.split("::", 1)[-1]


def pytest_collection_modifyitems(session, config, items):
    """Heaviest files first, by :data:`DURATIONS` (files not in it first of all), keeping
    the order within each file: pytest-xdist's ``--dist loadfile`` hands whole files to the
    workers in this order, so the long files start early and both workers end together."""
    try:
        durations = json.loads(DURATIONS.read_text())
    except (OSError, ValueError):
        return
    def weight(item) -> float:
        return -durations.get(item.nodeid.split("::", 1)[0], float("inf"))
    items.sort(key=weight)
