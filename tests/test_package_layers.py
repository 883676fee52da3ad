"""The packages import downwards only (layers in the ``hdl`` package docstring).

Every import statement of the lower layers, module level or not, is parsed with
``ast``; relative imports are resolved against the importing module's package.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT_PACKAGES = ("hdl", "pcu_pmu", "memory_ctrl", "testbench", "tests")

# package (as a directory under ROOT) -> the project packages its modules may import
LAYERS = {
    "hdl/bus": ("hdl.bus",),
    "hdl/numerics": ("hdl.bus", "hdl.numerics"),
    "pcu_pmu": ("hdl.bus", "hdl.numerics", "pcu_pmu"),
    "memory_ctrl": ("hdl.bus", "hdl.numerics", "memory_ctrl"),
}


def imported_modules(source: str, module: str, is_package: bool = False) -> list:
    """``(line, dotted name)`` of every module that ``source`` (module ``module``) imports."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module.split(".") if node.module else []
            if node.level:
                base = package[:len(package) - node.level + 1] + base
            # `from pkg import name` may import the submodule pkg.name
            found += [(node.lineno, ".".join(base + [alias.name])) for alias in node.names]
    return found


def _within(name: str, packages) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def layer_violations(directory: str, allowed) -> list:
    """``path:line imports name`` for each project import outside ``allowed``."""
    violations = []
    for path in sorted((ROOT / directory).rglob("*.py")):
        relative = path.relative_to(ROOT)
        is_package = path.name == "__init__.py"
        parts = relative.parent.parts if is_package else relative.with_suffix("").parts
        for line, name in imported_modules(path.read_text(), ".".join(parts), is_package):
            if _within(name, PROJECT_PACKAGES) and not _within(name, allowed):
                violations.append(f"{relative}:{line} imports {name}")
    return violations


@pytest.mark.parametrize("directory", LAYERS)
def test_imports_only_lower_layers(directory):
    assert layer_violations(directory, LAYERS[directory]) == []


def test_relative_and_nested_imports_are_resolved():
    source = ("from .tier import Tier\n"
              "from ..pcu.pcu import PCU\n"
              "def f():\n"
              "    from hdl import tile\n")
    assert imported_modules(source, "pcu_pmu.pmu.pmu") == [
        (1, "pcu_pmu.pmu.tier.Tier"), (2, "pcu_pmu.pcu.pcu.PCU"), (4, "hdl.tile")]
    assert imported_modules("from . import axi4\n", "hdl.bus", is_package=True) == [
        (1, "hdl.bus.axi4")]
