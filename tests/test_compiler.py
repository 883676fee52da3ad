"""Kernel compiler v1 end to end: graphs compiled, run on the RDU top, checked bit-exactly.

Every test compiles a graph (testbench/compiler), runs the kernels through the
runtime on the RDU top (Verilator; the host port's AXI channels pause at random,
seeded, with probability 0.3; the runtime's per-command timeout is the watchdog
and names the command that did not finish) and compares what it reads back, bit
for bit, with the NumPy golden model of the graph. Shapes are random per seed and
not multiples of the lanes.
"""

import json

import numpy as np
import pytest

from hdl.rdu.config import rdu_params
from testbench.cli.main import main
from testbench.compiler import (
    ORCHESTRATIONS,
    Graph,
    collect_run,
    compile_graph,
    enqueue_run,
    evaluate,
    host_buffers,
    run_compiled,
    stage_buffers,
)
from testbench.compiler.library import (
    DECODE_KERNELS,
    KERNEL_NAMES,
    hard_fraction,
    kernel_graph,
    random_inputs,
)
from testbench.compiler.transformer import DecoderShape, derived_inputs
from testbench.runtime.host_program import Write
from testbench.runtime.host_script import HostScript

SEEDS = [1, 2]


def _check(got: dict, want: dict, what: str):
    for name, expected in want.items():
        assert got[name].shape == expected.shape, f"{what} {name}: shape {got[name].shape}"
        differ = np.flatnonzero(got[name] != expected)
        if differ.size:
            first = differ[0]
            raise AssertionError(
                f"{what} {name}: {differ.size} of {expected.size} values differ, first at "
                f"{np.unravel_index(first, expected.shape)}: got {got[name].flat[first]:#x} "
                f"want {expected.flat[first]:#x}")


def _run(graph, config, mode, inputs, run_name, seed, **kwargs):
    compiled = compile_graph(graph, config, mode)
    report = run_compiled(compiled, inputs, run_name=f"{run_name}-{mode}", seed=seed,
                          host_stall=0.3, **kwargs)
    golden = evaluate(graph, inputs, config.lanes, config.pmu_depth)
    _check(report.outputs, {name: golden[name] for name in graph.outputs}, mode)
    return report


def _ragged(rng, low, high, lanes=4):
    value = int(rng.integers(low, high))
    return value + 1 if value % lanes == 0 else value


def test_every_elementwise_op_and_reduction(seed, run_name, waves):
    rng = np.random.default_rng(seed)
    rows, cols = int(rng.integers(1, 4)), _ragged(rng, 5, 22)
    g = Graph()
    x, y, z = (g.input(name, (rows, cols)) for name in "xyz")
    outs = [g.add(x, y), g.sub(x, y), g.mul(x, z), g.max(y, z), g.min(x, z),
            g.exp(x), g.reciprocal(y), g.rsqrt(z), g.silu(x), g.gelu(y), g.to_bf16(z),
            g.row_sum(x), g.row_max(y)]
    g.output(*outs)
    config = rdu_params("small")
    report = _run(g, config, "unfused", random_inputs(g, rng), run_name, seed, waves=waves)
    print(f"[{rows}, {cols}]: {report.launches} launches, {report.cycles} cycles, "
          f"{report.bytes_moved} bytes")


def test_gemm_tiled_over_k_chunks_hardware_orchestrated(seed, run_name, waves):
    """K = 70 > PMU depth 64: two K chunks of 35, partials added in chunk order."""
    rng = np.random.default_rng(seed)
    m, n = _ragged(rng, 2, 8), _ragged(rng, 2, 8)
    g = kernel_graph("gemm", m=m, k=70, n=n)
    config = rdu_params("small")
    compiled = compile_graph(g, config, "unfused")
    assert sum("chunk 1" in k.name for k in compiled.kernels) > 0, "K was cut into chunks"
    _run(g, config, "unfused", random_inputs(g, rng), run_name, seed,
         orchestration="hardware", waves=waves)


def test_fused_equals_unfused_with_fewer_launches_and_bytes(seed, run_name, waves):
    rng = np.random.default_rng(seed)
    rows, cols = int(rng.integers(1, 4)), _ragged(rng, 3, 14)
    g = Graph()
    a, b, c = (g.input(name, (rows, cols)) for name in "abc")
    g.output(g.silu(g.add(a, b)), g.exp(g.mul(a, c)), g.reciprocal(g.row_sum(c)))
    config = rdu_params("small")
    inputs = random_inputs(g, rng)
    unfused = _run(g, config, "unfused", inputs, run_name, seed, waves=waves)
    fused = _run(g, config, "fused", inputs, run_name, seed, waves=waves)
    _check(fused.outputs, unfused.outputs, "fused vs unfused")
    print(f"unfused: {unfused.launches} launches, {unfused.bytes_moved} bytes, "
          f"{unfused.cycles} cycles; fused: {fused.launches} launches, {fused.bytes_moved} "
          f"bytes, {fused.cycles} cycles")
    assert fused.launches < unfused.launches
    assert fused.bytes_moved < unfused.bytes_moved
    assert fused.cycles < unfused.cycles


def test_fused_pcu_pipelines_on_two_pcus(run_name, waves):
    """On the 2x2 tile: silu(x @ w1) * (x @ w3) with each GEMM kernel running PMU -> systolic
    PCU -> SILU PCU, gelu(exp(u)) on two tail PCUs, row_sum(exp(v)) as a tail PCU feeding a
    reduction PCU; against the same graph unfused on the small RDU."""
    seed = 1
    rng = np.random.default_rng(seed)
    g = kernel_graph("swiglu", m=3, k=6, n=5)
    u, v = g.input("u", (2, 7)), g.input("v", (2, 8))
    g.output(g.gelu(g.exp(u), "gelu_exp"), g.row_sum(g.exp(v), "sum_exp"))
    inputs = random_inputs(g, rng)
    fused_compiled = compile_graph(g, rdu_params("tile2x2"), "fused")
    names = [k.name for k in fused_compiled.kernels]
    assert any(name.startswith("exp(u) -> gelu(") for name in names), names
    assert any(name.startswith("exp(v) -> row_sum(") for name in names), names
    fused = _run(g, rdu_params("tile2x2"), "fused", inputs, run_name, seed, waves=waves)
    unfused = _run(g, rdu_params("small"), "unfused", inputs, run_name, seed, waves=waves)
    _check(fused.outputs, unfused.outputs, "fused (tile2x2) vs unfused (small)")
    assert fused.launches < unfused.launches
    assert fused.bytes_moved < unfused.bytes_moved


def test_cli_kernel_json_inputs_outputs_and_exit_status(tmp_path, capsys, monkeypatch):
    saved = tmp_path / "row_max.npz"
    argv = ["kernel", "row_max", "--rows", "3", "--cols", "9", "--json", "--quiet"]
    assert main([*argv, "--outputs", str(saved)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] and report["mismatches"] == 0 and report["launches"] == 2
    # beats: x (3 per row) in, 3 vector maxima per row out, 4 per row (one -inf) gathered, 3 out
    assert report["bytes_moved"] == (9 + 9 + 12 + 3) * 16
    assert report["bytes_by_tier"] == {"sram": report["bytes_moved"]}
    # Performance counters over the run: the PCU (vector max, then the gathered max) and
    # the PMU (the gather) were busy for part of it, never longer than the run.
    busy = {unit["kind"]: unit["busy"] for unit in report["units"]}
    assert set(busy) == {"pcu", "pmu"}
    assert 0 < busy["pmu"] <= report["cycles"] and 0 < busy["pcu"] <= report["cycles"]
    arrays = np.load(saved)
    assert set(arrays.files) == {"x", "out", "golden"}
    assert np.array_equal(arrays["out"], arrays["golden"])
    # The same inputs again, hardware-orchestrated: the same bits.
    rerun = tmp_path / "rerun.npz"
    assert main([*argv, "--inputs", str(saved), "--orchestration", "hardware",
                 "--outputs", str(rerun)]) == 0
    capsys.readouterr()
    assert np.array_equal(np.load(rerun)["out"], arrays["out"])
    # A golden model that disagrees makes the command fail with status 1.
    import testbench.compiler as compiler

    real = compiler.evaluate

    def wrong(*args):
        values = real(*args)
        values["out"] = values["out"] ^ np.uint32(1)
        return values

    monkeypatch.setattr(compiler, "evaluate", wrong)
    assert main([*argv, "--inputs", str(saved)]) == 1
    assert json.loads(capsys.readouterr().out)["mismatches"] == 3


def test_cli_kernel_compile_error_exits_2(capsys):
    assert main(["kernel", "swiglu", "--mode", "fused", "--quiet"]) == 2
    assert "too many units" in capsys.readouterr().err


@pytest.mark.regress
@pytest.mark.parametrize("mode", ["unfused", "fused"])
@pytest.mark.parametrize("name", KERNEL_NAMES)
@pytest.mark.parametrize("sweep_seed", [3, 4, 5])
def test_kernel_sweep(name, mode, sweep_seed, run_name):
    rng = np.random.default_rng(sweep_seed)
    fused_wide = name in ("swiglu", *DECODE_KERNELS) and mode == "fused"
    preset = "tile2x2" if fused_wide else "small"
    shape = DecoderShape(d_model=int(rng.integers(1, 12)), heads=int(rng.integers(1, 3)),
                         head_dim=2 * int(rng.integers(1, 5)), d_ff=int(rng.integers(1, 20)),
                         tokens=int(rng.integers(1, 20)))
    g = kernel_graph(name, rows=int(rng.integers(1, 9)), cols=int(rng.integers(1, 40)),
                     m=int(rng.integers(1, 12)),
                     k=int(rng.integers(1, 140 if mode == "unfused" else 65)),
                     n=int(rng.integers(1, 12)), decoder=shape)
    hard = hard_fraction(name) if name in DECODE_KERNELS else 0.5
    inputs = derived_inputs(g, random_inputs(g, rng, hard), shape)
    _run(g, rdu_params(preset), mode, inputs, run_name, sweep_seed,
         timeout_cycles=200_000)


def test_resident_weights_serve_two_requests_in_one_session(seed, run_name, waves):
    """swiglu's weight buffers (w1.B, w3.B: B layout) are written once; two requests
    (software-, then hardware-orchestrated) each write only their activations (x.A, shared
    by both GEMMs) and run every kernel on the resident weights, bit-exactly."""
    rng = np.random.default_rng(seed)
    config = rdu_params("small")
    graph = kernel_graph("swiglu", m=_ragged(rng, 2, 7), k=_ragged(rng, 5, 20), n=6)
    compiled = compile_graph(graph, config, "unfused")
    assert compiled.weight_buffers == {"w1.B", "w3.B"}
    assert {"x.A", "w1.B", "w3.B"} <= set(compiled.infos)
    weights = {name: random_inputs(graph, rng)[name] for name in ("w1", "w3")}
    script = HostScript(config)
    resident = {name: script.write(contents, name) for name, contents in
                host_buffers(compiled, weights, compiled.weight_buffers).items()}
    requests, wants = [], []
    for index, orchestration in enumerate(ORCHESTRATIONS):
        x = {"x": random_inputs(graph, rng)["x"]}
        writes = len(script.steps)
        addresses = stage_buffers(compiled, script, x, resident, what=f"r{index}.")
        staged = [step for step in script.steps[writes:] if isinstance(step, Write)]
        assert len(staged) == 1 and staged[0].address == addresses["x.A"], staged
        assert all(addresses[name] == resident[name] for name in resident)
        enqueue_run(compiled, script, addresses, orchestration=orchestration,
                    tag=f"r{index}.")
        requests.append((orchestration, f"r{index}."))
        wants.append(evaluate(graph, {**x, **weights}, config.lanes, config.pmu_depth))
    with pytest.raises(ValueError, match=r"\['x\.A'\] are not weight buffers"):
        stage_buffers(compiled, HostScript(config), {}, {"x.A": 0})
    result = script.run(run_name=run_name, seed=seed, waves=waves, timeout_cycles=50_000,
                         host_stall=0.3)
    for (orchestration, tag), want in zip(requests, wants, strict=True):
        report = collect_run(compiled, result, orchestration=orchestration, tag=tag)
        _check(report.outputs, {"out": want["out"]}, f"request {tag} ({orchestration})")
        print(f"{tag} {orchestration}: {report.launches} launches, {report.cycles} cycles")
    assert not np.array_equal(wants[0]["out"], wants[1]["out"]), "two different requests"


def test_long_streaming_kernel_does_not_deadlock(run_name):
    """One kernel that writes while it still reads 100 beats (it hung before the AGCU
    reserved read-buffer room for every burst it requests)."""
    config = rdu_params("small")
    graph = kernel_graph("exp", rows=100, cols=4)
    inputs = random_inputs(graph, np.random.default_rng(1))
    compiled = compile_graph(graph, config, mode="unfused")
    assert len(compiled.kernels) == 1
    report = run_compiled(compiled, inputs, run_name=run_name, timeout_cycles=20_000)
    want = evaluate(graph, inputs, config.lanes, config.pmu_depth)
    assert np.array_equal(report.outputs["out"], want["out"])
