"""Chained GEMMs, decode attention and the decoder layer through the compiler, on the RTL.

A GEMM whose A operand is made on the device (a ``to_bf16`` result) gets its A layout
from ``a_layout`` kernels (a PMU transposes the tensor's tiles); decode attention and
the Llama-style decoder layer (testbench/compiler/transformer.py) are built on it.
Every output, the decoder's new cache entries included, is compared bit for bit with
the golden model; the accuracy against float64 is printed beside.
"""

import numpy as np
import pytest

from hdl.rdu.config import rdu_params
from testbench.compiler import BF16, Graph, compile_graph, evaluate, run_compiled
from testbench.compiler.golden import gemm
from testbench.compiler.library import random_inputs
from testbench.compiler.transformer import (
    DecoderShape,
    attention_float64,
    attention_graph,
    decoder_float64,
    decoder_graph,
    derived_inputs,
    rope_tables,
    rotate_half_weight,
)

SMALL = rdu_params("small")


def _check_all(graph, config, report, inputs):
    want = evaluate(graph, inputs, config.lanes, config.pmu_depth)
    for name in graph.outputs:
        got = report.outputs[name]
        differ = np.flatnonzero(got != want[name])
        assert differ.size == 0, (f"{name}: {differ.size} of {got.size} values differ, first "
                                  f"at {differ[0]}: got {got.flat[differ[0]]:#x} want "
                                  f"{want[name].flat[differ[0]]:#x}")
    return want


def _relative_error(got_bits: np.ndarray, reference: np.ndarray) -> float:
    got = np.asarray(got_bits, np.uint32).view(np.float32).astype(np.float64)
    return float(np.max(np.abs(got - reference)) / np.max(np.abs(reference)))


def _chained_graph(m, k, n, p) -> Graph:
    g = Graph()
    h = g.gemm(g.input("x", (m, k), BF16), g.input("w1", (k, n), BF16, weight=True), "h")
    g.output(g.gemm(g.to_bf16(h, "hb"), g.input("w2", (n, p), BF16, weight=True), "out"))
    return g


def test_device_made_a_operand_compiles_to_a_layout_kernels():
    """K = 71 on a 64-row PMU: two chunks of 36, so the A buffer's last K vector is
    padding, host-written zeros; one a_layout kernel per tile row and chunk."""
    compiled = compile_graph(_chained_graph(5, 7, 71, 6), SMALL)
    info = compiled.infos["hb.A"]
    assert info.fill == 0 and info.operand is None
    assert compiled.infos["hb"].rows_alloc == 8  # whole tile rows of 4 lanes
    names = [k.name for k in compiled.kernels if k.name.startswith("a_layout")]
    assert names == ["a_layout(hb) tile row 0 columns 0..35",
                     "a_layout(hb) tile row 0 columns 36..70",
                     "a_layout(hb) tile row 1 columns 0..35",
                     "a_layout(hb) tile row 1 columns 36..70"]
    assert "hb.A" not in compiled.weight_buffers
    # K fits one chunk exactly: no padding vectors, nothing for the host to fill.
    assert compile_graph(_chained_graph(5, 7, 9, 6), SMALL).infos["hb.A"].fill is None


@pytest.mark.parametrize("k2", [pytest.param(9, marks=pytest.mark.regress), 71])
def test_chained_gemms_bit_exact(k2, seed, run_name):
    """``(x @ w1) -> bf16 -> @ w2`` with the second GEMM's A operand made on the device,
    M not a multiple of the lanes, K in one chunk and in two (with a padding vector)."""
    rng = np.random.default_rng(seed)
    graph = _chained_graph(5, 7, k2, 6)
    inputs = random_inputs(graph, rng, hard=0.0)
    report = run_compiled(compile_graph(graph, SMALL), inputs, run_name=run_name, seed=seed,
                          host_stall=0.3)
    _check_all(graph, SMALL, report, inputs)


def test_rotated_weight_gives_rotate_half_of_the_product():
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((3, 8)).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    w = (rng.standard_normal((8, 6)).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    plain = gemm(x, w, 4, 64).view(np.float32)
    rotated = gemm(x, rotate_half_weight(w), 4, 64).view(np.float32)
    assert np.array_equal(rotated, np.concatenate([-plain[:, 3:], plain[:, :3]], axis=1))
    cos, sin = rope_tables(5, 6)
    angles = 5 * 10000.0 ** (-np.arange(3) * 2 / 6)
    assert np.array_equal(cos.view(np.float32)[0, :3], np.cos(angles).astype(np.float32))
    assert np.array_equal(sin.view(np.float32)[0, 3:], np.sin(angles).astype(np.float32))


def test_decode_attention_bit_exact(seed, run_name):
    """One token against 9 cached tokens, head width 6 (neither a multiple of 4 lanes)."""
    rng = np.random.default_rng(seed)
    graph = attention_graph(DecoderShape(head_dim=6, tokens=9))
    inputs = random_inputs(graph, rng, hard=0.0)
    report = run_compiled(compile_graph(graph, SMALL), inputs, run_name=run_name, seed=seed,
                          host_stall=0.3)
    want = _check_all(graph, SMALL, report, inputs)
    error = _relative_error(want["out"], attention_float64(inputs))
    print(f"attention: {report.launches} launches, {report.cycles} cycles; max error "
          f"against float64 {error:.2e} of the largest output")
    assert error < 1e-2  # bf16 q and probabilities: a few bf16 ulps


def test_decoder_layer_bit_exact(seed, run_name):
    """A decoder layer (rmsnorm, rotary q/k, attention over 5 cached tokens, residual,
    rmsnorm, SwiGLU, residual) on 7 model columns: out and the new K/V cache entries."""
    rng = np.random.default_rng(seed)
    shape = DecoderShape(d_model=7, heads=1, head_dim=6, d_ff=10, tokens=5)
    graph = decoder_graph(shape)
    assert graph.outputs == ["k0_new", "v0_new", "out"]
    inputs = derived_inputs(graph, random_inputs(graph, rng, hard=0.0), shape)
    report = run_compiled(compile_graph(graph, SMALL), inputs, run_name=run_name, seed=seed,
                          host_stall=0.3, timeout_cycles=100_000)
    want = _check_all(graph, SMALL, report, inputs)
    error = _relative_error(want["out"], decoder_float64(inputs, shape))
    print(f"decoder: {report.launches} launches, {report.cycles} cycles; max error against "
          f"float64 {error:.2e} of the largest output")
    assert error < 5e-2  # bf16 activations into five GEMMs in a row


@pytest.mark.regress
@pytest.mark.parametrize("orchestration", ["software", "hardware"])
@pytest.mark.parametrize("sweep_seed", [3, 4])
def test_decoder_layer_two_heads_fused_and_unfused(orchestration, sweep_seed, run_name):
    """Two heads on the 2 x 2 tile, fused and unfused, both orchestrations: bit-exact, and
    fused takes fewer launches."""
    rng = np.random.default_rng(sweep_seed)
    config = rdu_params("tile2x2")
    shape = DecoderShape(d_model=int(rng.integers(5, 12)), heads=2,
                         head_dim=2 * int(rng.integers(2, 5)), d_ff=int(rng.integers(6, 20)),
                         tokens=int(rng.integers(1, 12)))
    graph = decoder_graph(shape)
    inputs = derived_inputs(graph, random_inputs(graph, rng, hard=0.0), shape)
    launches = {}
    for mode in ("unfused", "fused"):
        report = run_compiled(compile_graph(graph, config, mode), inputs,
                              orchestration=orchestration, run_name=f"{run_name}-{mode}",
                              seed=sweep_seed, host_stall=0.3, timeout_cycles=200_000)
        _check_all(graph, config, report, inputs)
        launches[mode] = report.launches
    assert launches["fused"] < launches["unfused"]


def test_bench_kernels_workloads_compile_and_ratios():
    """`rdu bench kernels`: both workloads compile on tile2x2 with fewer fused launches and
    bytes; its ratios and per-launch overheads come from the measured figures."""
    from testbench.cli.bench_kernels import (
        DECODE_SHAPE,
        PREFILL_TOKENS,
        _overheads,
        _ratios,
        prefill_graph,
    )

    config = rdu_params("tile2x2")
    for graph in (decoder_graph(DECODE_SHAPE), prefill_graph(PREFILL_TOKENS, 16, 32)):
        unfused, fused = (compile_graph(graph, config, mode) for mode in ("unfused", "fused"))
        assert len(fused.kernels) < len(unfused.kernels)
        assert fused.bytes_moved() < unfused.bytes_moved()
    variants = {"unfused/software": {"cycles": 400, "kernel_cycles": 100, "launches": 10,
                                     "bytes_moved": 90},
                "fused/software": {"cycles": 200, "kernel_cycles": 80, "launches": 5,
                                   "bytes_moved": 60},
                "unfused/hardware": {"cycles": 300, "kernel_cycles": 0, "launches": 10,
                                     "bytes_moved": 90}}
    assert _ratios(variants) == {
        "unfused_over_fused/software": {"cycles": 2.0, "launches": 2.0, "bytes_moved": 1.5},
        "software_over_hardware/unfused": 1.333}
    assert _overheads(variants) == {"unfused/software": 30.0, "fused/software": 24.0,
                                    "unfused/hardware": 20.0}
