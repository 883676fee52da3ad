"""The one build path: cached by content, built once even when two processes ask at once."""

import multiprocessing

from testbench.sim.build_cache import Design, build_model, verilog_for

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
    log = (model.build_dir / "build.log").read_text()
    return {line.split(" -c -o ")[1].split()[0] for line in log.splitlines()
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

