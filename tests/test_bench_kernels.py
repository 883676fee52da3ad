"""`rdu bench kernels`: the roofline model's arithmetic, the bench's ratios, refusals,
roofline table, text and plot, and the ``--plot`` option (fast: no simulation, except
the regress test that runs the whole bench)."""

import pytest

from hdl.rdu.config import peak_flops_per_cycle, rdu_params
from testbench.cli import bench_cmd, bench_kernels
from testbench.cli.bench_kernels import (
    _ratios,
    _text,
    compile_variants,
    launch_overheads,
    plot_cycles,
    plot_segments,
    roofline_table,
)
from testbench.cli.main import main
from testbench.compiler import BF16, CompileError, Graph, compile_graph
from testbench.compiler.roofline import (
    graph_flops,
    memory_bytes_per_cycle,
    op_flops,
    predict,
    predict_compiled,
)

TILE = rdu_params("tile2x2")
FLOPS = {"decode": 640, "prefill": 64_000}  # made up, as the figures of _made_up_data


def _gemm_graph(m: int = 3, k: int = 5, n: int = 7) -> Graph:
    """``row_sum(bf16(a @ w) widened + c)``: one op of each FLOP rule."""
    g = Graph()
    h = g.gemm(g.input("a", (m, k), BF16), g.input("w", (k, n), BF16, weight=True), "h")
    widened = g.from_bf16(g.to_bf16(h, "hb"), "hf")
    g.output(g.row_sum(g.add(widened, g.input("c", (m, n)), "sum"), "out"))
    return g


def _variant(cycles, kernel_cycles, launches, bytes_moved) -> dict:
    return {"cycles": cycles, "kernel_cycles": kernel_cycles, "launches": launches,
            "bytes_moved": bytes_moved}


def _made_up_data() -> dict:
    """Bench data of two workloads (figures made up), no roofline yet."""
    data = {}
    data["decode"] = {"variants": {
        "unfused/software": _variant(4000, 1000, 20, 3200),
        "spatial/software": _variant(2000, 800, 10, 1600),
        "unfused/hardware": _variant(3000, 0, 20, 3200),
        "spatial/hardware": _variant(1500, 0, 10, 1600)},
        "refused": {"fused/software": "op x: no PMU left", "fused/hardware": "op x: no PMU left"}}
    data["prefill"] = {"variants": {"unfused/software": _variant(5000, 2000, 30, 6400)},
                       "refused": {}}
    for entry in data.values():
        entry["ratios"] = _ratios(entry["variants"])
        entry["overhead_cycles_per_launch"] = bench_kernels._overheads(entry["variants"])
    return data


# -- the roofline model ---------------------------------------------------------------------
def test_flops_of_a_small_gemm_graph():
    g = _gemm_graph(3, 5, 7)
    by_op = {op.output: op_flops(g, op) for op in g.ops}
    assert by_op == {"h": 2 * 3 * 7 * 5, "hb": 0, "hf": 0, "sum": 3 * 7, "out": 3 * 6}
    assert graph_flops(g) == 210 + 21 + 18


def test_predicted_cycles_take_the_larger_of_memory_and_compute():
    memory_bound = predict(launches=10, bytes_moved=1600, flops=640, overhead_per_launch=100,
                           bytes_per_cycle=16, flops_per_cycle=64)
    assert (memory_bound.launch_cycles, memory_bound.memory_cycles,
            memory_bound.compute_cycles) == (1000, 100, 10)
    assert memory_bound.predicted_cycles == 1100
    assert memory_bound.bound == "memory"
    compute_bound = predict(4, 160, 64_000, 50.5, 16, 64)
    assert compute_bound.predicted_cycles == 4 * 50.5 + 1000
    assert compute_bound.bound == "compute"
    with pytest.raises(ValueError):
        predict(1, 1, 1, 1, 0, 64)


def test_tile2x2_peaks_and_a_compiled_prediction():
    assert memory_bytes_per_cycle(TILE) == 16  # one vector of 4 lanes x 4 bytes per cycle
    assert peak_flops_per_cycle(TILE) == 64    # 2 PCUs x 4 x 4 PEs x 2 FLOPs
    assert memory_bytes_per_cycle(rdu_params("coe")) <= 16
    compiled = compile_graph(_gemm_graph(8, 8, 8), TILE, "fused")
    p = predict_compiled(compiled, overhead_per_launch=150)
    assert p.launch_cycles == 150 * len(compiled.kernels)
    assert p.memory_cycles == compiled.bytes_moved() / 16
    assert p.compute_cycles == graph_flops(compiled.graph) / 64


# -- the bench's figures ------------------------------------------------------------------
def test_ratios_include_spatial_and_every_mode_software_over_hardware():
    ratios = _ratios(_made_up_data()["decode"]["variants"])
    assert ratios == {
        "unfused_over_spatial/software": {"cycles": 2.0, "launches": 2.0, "bytes_moved": 2.0},
        "unfused_over_spatial/hardware": {"cycles": 2.0, "launches": 2.0, "bytes_moved": 2.0},
        "software_over_hardware/unfused": 1.333, "software_over_hardware/spatial": 1.333}


def test_launch_overheads_are_weighted_by_launches():
    data = _made_up_data()
    # software: decode unfused 150 x 20, spatial 120 x 10, prefill unfused 100 x 30
    # hardware: decode unfused (3000 - 1000) / 20 = 100 x 20, spatial 70 x 10
    assert launch_overheads(data) == {"software": 120.0, "hardware": 90.0}


def test_roofline_table_rows_follow_the_model():
    data = _made_up_data()
    table = roofline_table(data, FLOPS, 16, 64)
    rows = {(row["workload"], row["variant"]): row for row in table["rows"]}
    assert len(rows) == 5  # the measured variants; refused ones have no row
    row = rows["decode", "spatial/hardware"]
    assert (row["launch_cycles"], row["memory_cycles"], row["compute_cycles"]) == (900, 100, 10)
    assert row["predicted_cycles"] == 1000
    assert row["measured_over_predicted"] == 1.5
    assert row["gap_cycles_per_launch"] == 50.0
    assert rows["prefill", "unfused/software"]["bound"] == "compute"  # 1000 > 400
    assert table["launch_overhead_cycles"] == launch_overheads(data)


def test_compile_variants_reports_refusals(monkeypatch):
    def refuse_spatial(graph, config, mode):
        if mode == "spatial":
            raise CompileError("op h: no PMU left for the spatial buffer")
        return compile_graph(graph, config, mode)

    monkeypatch.setattr(bench_kernels, "compile_graph", refuse_spatial)
    variants = (("fused", "software"), ("spatial", "software"), ("spatial", "hardware"))
    runs, refused = compile_variants({"tiny": (_gemm_graph(), {}, variants)}, TILE)
    assert [(mode, orchestration) for _, mode, orchestration, _ in runs] == [
        ("fused", "software")]
    assert refused == {"tiny": {"spatial/software": "op h: no PMU left for the spatial buffer",
                                "spatial/hardware": "op h: no PMU left for the spatial buffer"}}


def test_bench_workloads_compile_in_every_mode():
    runs, refused = compile_variants(bench_kernels._workloads(), TILE)
    assert refused == {"decode": {}, "prefill": {}}
    assert len(runs) == 12
    launches = {(w, mode): len(c.kernels) for w, mode, _, c in runs}
    assert launches["decode", "spatial"] < launches["decode", "fused"]


def test_text_shows_refusals_ratios_and_the_roofline():
    data = _made_up_data()
    data["roofline"] = roofline_table(data, FLOPS, 16, 64)
    text = _text(data)
    assert "decode   fused/software       refused: op x: no PMU left" in text
    assert "decode: unfused_over_spatial/software: cycles 2.00x" in text
    assert "software 120, hardware 90" in text
    roofline_rows = [line for line in text.splitlines() if line.startswith("  decode   ")
                     and line.split()[1] == "spatial/hardware"]
    # the variants table's row, then the roofline's: measured 1500, predicted 1000, 1.50
    assert roofline_rows[-1].split()[2:] == ["1500", "900", "100", "10", "1000", "1.50", "50"]


# -- the plot -------------------------------------------------------------------------------
def test_plot_segments_add_up_to_the_prediction_and_the_measurement():
    row = {"launch_cycles": 900, "memory_cycles": 100, "compute_cycles": 10,
           "predicted_cycles": 1000, "measured_cycles": 1500}
    segments = plot_segments(row)
    assert segments == {"launch": 900, "overlapped": 10, "memory_only": 90, "compute_only": 0.0,
                        "unmodelled": 500}
    assert sum(segments.values()) == row["measured_cycles"]
    compute_bound = plot_segments({**row, "compute_cycles": 300, "predicted_cycles": 1200})
    assert (compute_bound["overlapped"], compute_bound["compute_only"]) == (100, 200)


def test_plot_writes_a_png(tmp_path):
    data = _made_up_data()
    data["roofline"] = roofline_table(data, FLOPS, 16, 64)
    path = plot_cycles(data, tmp_path / "kernels.png")
    assert path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_option_reaches_only_the_kernels_part(monkeypatch, capsys, tmp_path):
    seen = {}

    def fake_kernels(log, plot=None):
        seen["plot"] = plot
        return {}, "kernels text"

    monkeypatch.setitem(bench_cmd.PARTS, "kernels", fake_kernels)
    monkeypatch.setitem(bench_cmd.PARTS, "fp", lambda log: ({}, "fp text"))
    target = str(tmp_path / "k.png")
    assert main(["bench", "kernels", "--plot", target, "--quiet"]) == 0
    assert seen["plot"] == target
    assert main(["bench", "kernels", "--quiet"]) == 0
    assert seen["plot"] is None
    assert main(["bench", "fp", "--quiet"]) == 0  # a part without plot= still runs
    assert main(["bench", "fp", "--plot", target, "--quiet"]) == 2  # it draws no chart
    assert "draws no chart" in capsys.readouterr().err


# -- the whole bench (one simulation) -------------------------------------------------------
@pytest.mark.regress
def test_bench_kernels_runs_every_variant_bit_exact(tmp_path):
    data, text = bench_kernels.run_bench(lambda message: None, plot=tmp_path / "k.png")
    for workload in ("decode", "prefill"):
        variants = data[workload]["variants"]
        assert len(variants) + len(data[workload]["refused"]) == 6
        assert all(f["bit_exact"] for f in variants.values())
    assert len(data["roofline"]["rows"]) == sum(
        len(data[w]["variants"]) for w in ("decode", "prefill"))
    assert (tmp_path / "k.png").stat().st_size > 0
    assert "roofline" in text
