"""The one build path: Amaranth component -> Verilog -> Verilator model, cached.

Three caches live under ``sim_build/``:

* ``verilog/``: generated Verilog, keyed by the design's factory, parameters,
  the source of every RTL module its factory's module imports (transitively) and
  the tool versions. A design is not elaborated again after an edit it cannot
  reach.
* ``<toplevel>-<hash>/``: a Verilator build, keyed by the Verilog text, the
  build flags and the tool versions.
* ``verilator_runtime/<hash>/``: Verilator's own runtime objects (``verilated*.o``),
  keyed by the build flags and the tool versions. They do not depend on the design,
  and compiling them took most of a small design's build; a new build starts with
  copies, which make is told not to remake (``--old-file``).

Each entry is made under an exclusive file lock and marked complete last, so
pytest-xdist workers (or two shells) that need one design build it once and
never see a half-written build.
"""

import ast
import fcntl
import functools
import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from hdl.bus.reset_style import RESET_STYLES

from .build_profile import PROFILES, BuildProfile, ccache_env
from .toolchain import PROJECT_ROOT, SIM_BUILD, tool_env, tool_versions

__all__ = [
    "Design", "BuiltModel", "BuildError", "verilog_for", "build_model", "fst_available",
    "design_sources", "VERILATOR_FLAGS",
]

RTL_PACKAGES = ("hdl", "pcu_pmu", "memory_ctrl")

# The C++ optimisation and output splitting come from the design's build profile
# (build_profile.py). --public-depth 1 replaces the --public-flat-rw that cocotb's
# runner passes: cocotb reaches the top-level ports only, and registering every
# internal signal for VPI doubled the C++ and the build time of a 16-adder array
# (105 s -> 43 s, same sim).
VERILATOR_FLAGS = ("-Wno-fatal", "--public-depth", "1")


def trace_flags() -> tuple[str, ...]:
    """FST tracing when the C library it needs (lz4) is installed, else VCD."""
    return ("--trace-fst",) if fst_available() else ("--trace",)


def fst_available() -> bool:
    return any(Path(d, "lz4.h").exists() for d in ("/usr/include", "/usr/local/include"))


@dataclass(frozen=True)
class Design:
    """A named RTL design: ``factory`` ("module:callable") called with ``params``.

    ``toplevel`` is the Verilog module name; parameters must be JSON values.
    ``profile`` names how its C++ is compiled (:mod:`.build_profile`: "unit",
    "quick" or "fast").
    An elaborated design with an ``emit_verilog(name)`` method emits its own
    Verilog (e.g. shared submodules defined once); others go through
    ``amaranth.back.verilog.convert``. ``reset`` is the reset style of the ``sync``
    domain (:mod:`hdl.bus.reset_style`): ``"async"`` for the Verilator models, whose
    evaluation it keeps off the path of every input change; the FPGA flow builds
    ``"sync"``.
    """

    toplevel: str
    factory: str
    params: dict = field(default_factory=dict)
    profile: str = "unit"
    reset: str = "async"

    def __post_init__(self):
        if self.profile not in PROFILES:
            raise ValueError(f"unknown build profile {self.profile!r} of {self.toplevel} "
                             f"(one of {', '.join(PROFILES)})")
        if self.reset not in RESET_STYLES:
            raise ValueError(f"unknown reset style {self.reset!r} of {self.toplevel} "
                             f"(one of {', '.join(RESET_STYLES)})")

    def elaborate(self):
        module_name, _, attr = self.factory.partition(":")
        return getattr(importlib.import_module(module_name), attr)(**self.params)

    def key(self) -> str:
        text = json.dumps([self.toplevel, self.factory, self.params, self.reset], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


class BuildError(RuntimeError):
    """Verilator could not build a design; the message carries the end of its log."""


@dataclass(frozen=True)
class BuiltModel:
    """A compiled Verilator model ready for cocotb."""

    design: Design
    verilog: Path
    build_dir: Path
    waves: bool
    rebuilt: bool
    seconds: float


@functools.cache
def _rtl_sources() -> dict[str, bytes]:
    """Every RTL module's source (module name -> bytes), read once per process.

    A process elaborates with the modules it imported, so the key must not
    follow later edits on disk: a long-lived process that saw the old sources
    keeps filing its Verilog under the old key.
    """
    sources = {}
    for package in RTL_PACKAGES:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            sources[name] = path.read_bytes()
    return sources


#: where the imports read from each RTL module's source are kept between processes
#: (parsing every source costs a few tenths of a second on each simulation's start)
_IMPORT_GRAPH = "import_graph.json"


@functools.cache
def _import_graph() -> dict:
    """``{module: [sha256 of its source, its imports or None]}`` from earlier processes."""
    try:
        graph = json.loads((SIM_BUILD / _IMPORT_GRAPH).read_text())
    except (OSError, ValueError):
        return {}
    return graph if isinstance(graph, dict) else {}


def _save_import_graph() -> None:
    """Write :func:`_import_graph` back (atomically: processes may share the cache)."""
    SIM_BUILD.mkdir(parents=True, exist_ok=True)
    temporary = SIM_BUILD / f".{_IMPORT_GRAPH}.{os.getpid()}"
    temporary.write_text(json.dumps(_import_graph(), sort_keys=True))
    os.replace(temporary, SIM_BUILD / _IMPORT_GRAPH)


@functools.cache
def _imported_modules(name: str) -> frozenset[str] | None:
    """The RTL modules ``name`` imports (its packages' ``__init__`` included); None if it
    imports by a name computed at run time, which no reading of the source can follow.
    Read from the source once per version of it (:func:`_import_graph`)."""
    digest = hashlib.sha256(_rtl_sources()[name]).hexdigest()
    known = _import_graph().get(name)
    if isinstance(known, list) and len(known) == 2 and known[0] == digest:
        return None if known[1] is None else frozenset(known[1])
    imported = _parse_imports(name)
    _import_graph()[name] = [digest, None if imported is None else sorted(imported)]
    return imported


def _parse_imports(name: str) -> frozenset[str] | None:
    """:func:`_imported_modules` from the source itself."""
    sources = _rtl_sources()
    tree = ast.parse(sources[name])
    is_package = f"{name}.__init__" in sources or any(key.startswith(name + ".")
                                                      for key in sources)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr",
                                                  getattr(node.func, "id", "")) in (
                "import_module", "__import__"):
            return None
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name if is_package else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}" if base else package
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    modules = set()
    for module in found:
        parts = module.split(".")
        modules.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return frozenset(module for module in modules if module in sources)


@functools.cache
def design_sources(module_name: str) -> frozenset[str]:
    """The RTL modules a design's factory module reaches by its imports (itself and its
    packages included); every RTL module when one of them imports by a computed name
    (e.g. the FPGA wrappers, which import the unit they wrap) or the factory is not in
    an RTL package."""
    sources = _rtl_sources()
    if module_name not in sources:  # a factory outside the RTL packages: assume the worst
        return frozenset(sources)
    before = dict(_import_graph())
    try:
        return _reached(module_name, sources)
    finally:
        if _import_graph() != before:
            _save_import_graph()


def _reached(module_name: str, sources: dict) -> frozenset[str]:
    reached, pending = set(), [module_name]
    while pending:
        name = pending.pop()
        if name in reached or name not in sources:
            continue
        reached.add(name)
        imported = _imported_modules(name)
        if imported is None:
            return frozenset(sources)
        pending.extend(imported)
        parts = name.split(".")
        pending.extend(".".join(parts[:i]) for i in range(1, len(parts)))
    return frozenset(reached)


@functools.cache
def _design_source_digest(module_name: str) -> str:
    """Digest of :func:`design_sources`: an edit elsewhere leaves the design's Verilog
    where it is."""
    sources = _rtl_sources()
    digest = hashlib.sha256()
    for name in sorted(design_sources(module_name)):
        digest.update(name.encode())
        digest.update(sources[name])
    return digest.hexdigest()


@contextmanager
def _locked(root: Path, name: str):
    lock_dir = root / ".locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def verilog_for(design: Design, root: Path | None = None) -> tuple[Path, bool]:
    """Return the cached Verilog of ``design`` (and whether it was generated now)."""
    from hdl.bus.reset_style import convert

    root = root or SIM_BUILD
    key = hashlib.sha256(
        (design.key() + _design_source_digest(design.factory.partition(":")[0])
         + json.dumps(tool_versions(), sort_keys=True))
        .encode()).hexdigest()[:16]
    path = root / "verilog" / f"{design.toplevel}-{key}.v"
    with _locked(root, path.stem):
        if path.exists():
            return path, False
        top = design.elaborate()
        if hasattr(top, "emit_verilog"):
            text = top.emit_verilog(design.toplevel, design.reset)
        else:
            text = convert(top, design.toplevel, design.reset)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
        return path, True


RUNTIME_OBJECTS = "verilated*.o"


def _runtime_dir(root: Path, flags: list, profile: BuildProfile) -> Path:
    key = hashlib.sha256(json.dumps({"flags": flags, "opt_global": profile.opt_global,
                                     "tools": tool_versions()},
                                    sort_keys=True).encode()).hexdigest()[:16]
    return root / "verilator_runtime" / key


def _seed_runtime(runtime: Path, build_dir: Path) -> list[str]:
    """Copy the cached runtime objects into a fresh build directory; their names, for
    make's ``--old-file`` (their rule depends on the makefile Verilator generates)."""
    if not (runtime / ".complete").exists():
        return []
    names = []
    for obj in sorted(runtime.glob(RUNTIME_OBJECTS)):
        shutil.copy(obj, build_dir / obj.name)
        names.append(obj.name)
    return names


def _keep_runtime(runtime: Path, build_dir: Path) -> None:
    """After a good build: keep its runtime objects if none are cached yet."""
    if (runtime / ".complete").exists():
        return
    objects = list(build_dir.glob(RUNTIME_OBJECTS))
    if not objects:
        return
    shutil.rmtree(runtime, ignore_errors=True)
    runtime.mkdir(parents=True)
    for obj in objects:
        shutil.copy(obj, runtime / obj.name)
    (runtime / ".complete").write_text("")


def _verilator_runner(profile: BuildProfile, old_files=()):
    """cocotb's Verilator runner, with top-level-only VPI visibility (see VERILATOR_FLAGS),
    ``profile``'s make variables; make does not remake ``old_files`` (runtime objects
    copied in)."""
    from cocotb_tools.runner import Verilator

    class TopLevelVisibleVerilator(Verilator):
        def _build_command(self):
            commands = super()._build_command()
            # The Verilog is named relative to the build directory (the command's working
            # directory): Verilator writes its path into the C++, and an absolute path
            # would make every clone's C++ differ for ccache.
            local = {str(source.value): source.value.name for source in self._sources}
            commands[0] = [local.get(arg, arg) for arg in commands[0]
                           if arg != "--public-flat-rw"]
            assert commands[1][0] == "make", commands[1]
            commands[1] += profile.make_args()
            commands[1] += [f"--old-file={name}" for name in old_files]
            return commands

    return TopLevelVisibleVerilator()


def _profile_name(design: Design) -> str:
    """The design's build profile, or the one ``RDU_BUILD_PROFILE`` forces on every design."""
    forced = os.environ.get("RDU_BUILD_PROFILE")
    if forced and forced not in PROFILES:
        raise BuildError(f"RDU_BUILD_PROFILE={forced!r} is not a build profile "
                         f"(one of {', '.join(PROFILES)})")
    return forced or design.profile


def log_to_stderr(message: str) -> None:
    """Status lines of builds and runs: on stderr, so a command's --json stdout stays clean."""
    print(message, file=sys.stderr, flush=True)


def build_model(design: Design, waves: bool = False, log=log_to_stderr,
                root: Path | None = None) -> BuiltModel:
    """Return a Verilator build of ``design``, building it only if nothing cached matches.

    ``root`` is the cache directory (``sim_build/`` unless given).
    """
    start = time.monotonic()
    root = root or SIM_BUILD
    verilog_path, _ = verilog_for(design, root)
    profile = PROFILES[_profile_name(design)]
    flags = (list(VERILATOR_FLAGS) + profile.verilator_args()
             + (list(trace_flags()) if waves else []))
    key = hashlib.sha256(json.dumps({
        "verilog": hashlib.sha256(verilog_path.read_bytes()).hexdigest(),
        "flags": flags, "profile": profile.key(), "waves": waves, "tools": tool_versions(),
    }, sort_keys=True).encode()).hexdigest()[:16]
    build_dir = root / f"{design.toplevel}-{key}"
    marker = build_dir / ".complete"
    with _locked(root, build_dir.name):
        if marker.exists():
            return BuiltModel(design, verilog_path, build_dir, waves, False,
                              time.monotonic() - start)
        log(f"building {design.toplevel} with Verilator in {build_dir}")
        shutil.rmtree(build_dir, ignore_errors=True)
        build_dir.mkdir(parents=True)
        os.environ.update(tool_env())
        os.environ.update(ccache_env())
        log_file = build_dir / "build.log"
        runtime = _runtime_dir(root, flags, profile)
        with _locked(root, "verilator_runtime"):
            runner = _verilator_runner(profile, _seed_runtime(runtime, build_dir))
        local_verilog = build_dir / f"{design.toplevel}.v"
        shutil.copy(verilog_path, local_verilog)
        try:
            runner.build(
                sources=[local_verilog], hdl_toplevel=design.toplevel, build_dir=build_dir,
                build_args=flags, waves=waves, always=True, log_file=log_file,
            )
        except (SystemExit, RuntimeError, subprocess.CalledProcessError) as error:
            tail = log_file.read_text(errors="replace")[-4000:] if log_file.exists() else ""
            raise BuildError(f"Verilator build of {design.toplevel} failed ({error}); "
                             f"log {log_file}:\n{tail}") from None
        with _locked(root, "verilator_runtime"):
            _keep_runtime(runtime, build_dir)
        marker.write_text(json.dumps({"design": design.toplevel, "params": design.params}))
    return BuiltModel(design, verilog_path, build_dir, waves, True, time.monotonic() - start)
