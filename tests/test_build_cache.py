"""The one build path: cached by content, built once even when two processes ask at once."""

import json
import multiprocessing

from testbench.sim import build_cache
from testbench.sim.build_cache import Design, build_model, design_sources, verilog_for

DESIGN = Design("cache_probe", "hdl.numerics.catalog:numeric_array",
                {"unit": "fp32_to_bf16", "lanes": 1})


def _build(root):
    return build_model(DESIGN, root=root, log=lambda _: None).rebuilt


def test_two_processes_build_one_design_once(tmp_path):
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        rebuilt = pool.map(_build, [tmp_path, tmp_path])
    assert sorted(rebuilt) == [False, True]
    assert len(list(tmp_path.glob("cache_probe-*/.complete"))) == 1


def test_unchanged_design_is_not_rebuilt(tmp_path):
    first = build_model(DESIGN, root=tmp_path, log=lambda _: None)
    second = build_model(DESIGN, root=tmp_path, log=lambda _: None)
    assert first.rebuilt and not second.rebuilt
    assert first.build_dir == second.build_dir


def _compiled_objects(model) -> set[str]:
    """Objects the build's make compiled (its compiler lines, through ccache or not)."""
    log = (model.build_dir / "build.log").read_text()
    lines = [line.split(maxsplit=1)[1] if line.split()[0].endswith("ccache") else line
             for line in log.splitlines() if line.strip()]
    return {line.split(" -c -o ")[1].split()[0] for line in lines
            if line.startswith("c++") and " -c -o " in line}


def test_parameters_and_waves_are_part_of_the_key(tmp_path):
    """Also: Verilator's runtime (verilated*.o) is compiled by the first build with given
    flags and copied into later ones; a traced build has other flags and compiles its own."""
    other = Design("cache_probe", DESIGN.factory, {"unit": "fp32_to_bf16", "lanes": 2})
    assert verilog_for(DESIGN, tmp_path)[0] != verilog_for(other, tmp_path)[0]
    plain = build_model(DESIGN, root=tmp_path, log=lambda _: None)
    second = build_model(other, root=tmp_path, log=lambda _: None)
    traced = build_model(DESIGN, root=tmp_path, waves=True, log=lambda _: None)
    assert plain.build_dir != traced.build_dir and traced.rebuilt
    runtime = {"verilated.o", "verilated_vpi.o", "verilated_threads.o"}
    assert runtime <= _compiled_objects(plain)
    assert not runtime & _compiled_objects(second)
    assert "Vtop__ALL.o" in _compiled_objects(second)
    assert (second.build_dir / "cache_probe").exists()
    assert runtime <= _compiled_objects(traced)



def test_profiles_set_make_variables_and_ccache(tmp_path, monkeypatch):
    """A design's build profile reaches make as OPT_* variables (never -CFLAGS), split
    output builds (the PCH variable set), and ccache serves a second build of the same
    design in another build directory."""
    from dataclasses import replace

    monkeypatch.setenv("RDU_CCACHE_DIR", str(tmp_path / "ccache"))
    fast = replace(DESIGN, profile="fast")
    first = build_model(fast, root=tmp_path / "a", log=lambda _: None)
    compiles = [line for line in (first.build_dir / "build.log").read_text().splitlines()
                if " -c " in line and "Vtop" in line]
    assert compiles and all(line.split()[0].endswith("ccache") for line in compiles)
    fast_lines = [line for line in compiles if "Slow" not in line]
    assert fast_lines and all(line.split()[2] == "-Os" for line in fast_lines), fast_lines
    assert not any("-O2" in line for line in compiles), "an -O flag came from -CFLAGS"
    assert (first.build_dir / "cache_probe").exists()
    second = build_model(fast, root=tmp_path / "b", log=lambda _: None)
    assert second.rebuilt
    import subprocess

    from testbench.sim.build_profile import ccache_path
    stats = subprocess.run([ccache_path(), "--print-stats"], capture_output=True, text=True,
                           env={"CCACHE_DIR": str(tmp_path / "ccache")}, check=True).stdout
    counts = dict(line.split("\t")[:2] for line in stats.splitlines() if "\t" in line)
    hits = int(counts.get("direct_cache_hit", 0)) + int(counts.get("preprocessed_cache_hit", 0))
    assert hits > 0, f"the second build of the same design hit nothing in ccache: {counts}"


def test_unknown_profile_is_refused():
    import pytest

    with pytest.raises(ValueError, match="unknown build profile 'turbo'"):
        Design("x", DESIGN.factory, profile="turbo")


def test_verilog_key_follows_only_the_sources_a_design_imports():
    """An edit to the link cannot make an FP unit's Verilog again; the RDU top reaches the
    PCU and the memory controller; a wrapper that imports by a computed name, or a factory
    outside the RTL packages, depends on every RTL source."""
    every = design_sources("testbench.cli.designs")
    fp_unit = design_sources("hdl.numerics.catalog")
    assert "hdl.numerics.fp_add" in fp_unit and "hdl.numerics" in fp_unit
    assert not any(name.startswith(("hdl.link", "pcu_pmu", "memory_ctrl")) for name in fp_unit)
    rdu = design_sources("hdl.rdu.top")
    assert {"pcu_pmu.pcu.pcu", "memory_ctrl.tier", "hdl.numerics.fp_add"} <= rdu
    assert not any(name.startswith("hdl.link") for name in rdu)
    assert design_sources("hdl.fpga.bridged") == every
    assert rdu < every


def _forget_imports():
    for cached in (build_cache._import_graph, build_cache._imported_modules,
                   build_cache.design_sources):
        cached.cache_clear()


def test_imports_read_once_per_source_version(tmp_path, monkeypatch):
    """The imports parsed from each RTL source are kept in the build directory; a kept
    entry whose source digest no longer matches is read again, not trusted."""
    monkeypatch.setattr(build_cache, "SIM_BUILD", tmp_path)
    _forget_imports()
    try:
        fresh = design_sources("hdl.rdu.top")
        kept = json.loads((tmp_path / "import_graph.json").read_text())
        assert "hdl.rdu.top" in kept and "hdl.rdu.config" in kept
        # A later process takes the imports from the file: poison one entry's imports
        # with its true digest (used) and another's digest (ignored, re-read).
        digest, imports = kept["hdl.rdu.top"]
        kept["hdl.rdu.top"] = [digest, [*imports, "hdl.link.wire"]]
        kept["hdl.rdu.config"] = ["0" * 64, []]
        (tmp_path / "import_graph.json").write_text(json.dumps(kept))
        _forget_imports()
        poisoned = design_sources("hdl.rdu.top")
        assert poisoned == fresh | design_sources("hdl.link.wire") and poisoned != fresh
        reread = json.loads((tmp_path / "import_graph.json").read_text())["hdl.rdu.config"]
        assert reread[0] != "0" * 64 and reread[1]
    finally:
        _forget_imports()
