"""Spatial compiler mode: GEMMs stream into their row reductions, and from the op that
makes their A operand, on chip.

On the 2x2 tile, ``spatial`` compiles a GEMM feeding ``row_sum`` (and the unary op
after it) into one kernel: the GEMM's PMU and systolic PCU, a PMU that puts the
output rows in order, the reducing PCU; the GEMM's result never reaches device
memory. A chain on one PCU that makes a GEMM's bf16 A operand (``to_bf16(...)``)
runs in the GEMM's kernel: a PMU transposes its rows into A vectors for the GEMM's
PMU. Runs go through the runtime on the RDU top (Verilator; the host port's AXI
channels pause at random, seeded, with probability 0.3) and are compared bit for
bit with the golden model. What does not fit raises CompileError naming the op and
the resource before anything is simulated; what spatial mode cannot fuse compiles
as fused mode compiles it.
"""

import numpy as np
import pytest

from hdl.rdu.config import RDUParams, UnitKind, rdu_params
from testbench.compiler import BF16, CompileError, Graph, compile_graph, evaluate, run_compiled
from testbench.compiler.library import (
    DECODE_KERNELS,
    KERNEL_NAMES,
    hard_fraction,
    kernel_graph,
    random_inputs,
)
from testbench.compiler.spatial import chain_hops, place_chain
from testbench.compiler.transformer import DecoderShape, derived_inputs

SEEDS = [1, 2]
TILE = rdu_params("tile2x2")


def _gemm_reduction(m: int, k: int, n: int, reduce: str = "row_sum", after: str = "exp"):
    """``after(reduce(a @ w))``, ``a`` bf16 ``[m, k]``, ``w`` a bf16 weight ``[k, n]``."""
    g = Graph()
    h = g.gemm(g.input("a", (m, k), BF16), g.input("w", (k, n), BF16, weight=True), "h")
    g.output(g.unary(after, g.reduce(reduce, h, "r"), "out"))
    return g


def _two_reductions(m: int, k: int, n: int) -> Graph:
    """``exp(row_sum(a @ w))`` over ``n`` columns and ``reciprocal(row_max(a @ v))`` over
    one vector of columns."""
    g = Graph()
    a = g.input("a", (m, k), BF16)
    sums = g.row_sum(g.gemm(a, g.input("w", (k, n), BF16, weight=True), "h"), "s")
    maxes = g.row_max(g.gemm(a, g.input("v", (k, 4), BF16, weight=True), "h4"), "mx")
    g.output(g.exp(sums, "out"), g.reciprocal(maxes, "inv"))
    return g


def _fed_gemm(m: int, k: int, n: int, reduce: str | None = None) -> Graph:
    """``to_bf16(scale(x, 0.5)) @ w`` (``x`` fp32 ``[m, k]``), then ``reduce`` if given."""
    g = Graph()
    xb = g.to_bf16(g.scale(g.input("x", (m, k)), 0.5, "xs"), "xb")
    h = g.gemm(xb, g.input("w", (k, n), BF16, weight=True), "h")
    g.output(g.reduce(reduce, h, "out") if reduce else h)
    return g


def _run(graph, config, mode, inputs, run_name, seed):
    compiled = compile_graph(graph, config, mode)
    report = run_compiled(compiled, inputs, run_name=f"{run_name}-{mode}", seed=seed,
                          host_stall=0.3)
    golden = evaluate(graph, inputs, config.lanes, config.pmu_depth)
    for name in graph.outputs:
        differ = np.flatnonzero(report.outputs[name] != golden[name])
        assert not differ.size, (f"{mode} {name}: {differ.size} values differ, first at "
                                 f"{differ[0]}")
    return compiled, report


def test_gemm_into_row_reduction_is_one_kernel_per_chain(seed, run_name):
    """Spatial: one kernel per GEMM -> reduction -> unary chain (every tile row of the
    GEMM in it), fewer launches and cycles than fused and unfused, the same bits."""
    rng = np.random.default_rng(seed)
    m, k, n = int(rng.integers(5, 9)), int(rng.integers(2, 9)), 4 * int(rng.integers(2, 4))
    graph = _two_reductions(m, k, n)
    inputs = random_inputs(graph, rng, hard=0.05)
    reports = {}
    for mode in ("unfused", "fused", "spatial"):
        compiled, reports[mode] = _run(graph, TILE, mode, inputs, run_name, seed)
        if mode == "spatial":
            spatial = compiled
    figures = {mode: (r.launches, r.cycles, r.bytes_moved) for mode, r in reports.items()}
    print(f"a [{m}, {k}] x w [{k}, {n}], v [{k}, 4]: (launches, cycles, bytes) {figures}")
    assert [kernel.name for kernel in spatial.kernels] == [
        f"gemm_chunk(a, w) -> row_sum(h) -> exp(s) tile (0..1, 0..{n // 4 - 1}) chunk 0",
        "gemm_chunk(a, v) -> row_max(h4) -> reciprocal(mx) tile (0..1, 0..0) chunk 0"]
    # The GEMMs' results and the reductions' never touch device memory.
    assert not {"h", "h4", "s", "mx"} & set(spatial.infos)
    # Buffered: AGCU -> GEMM's PMU -> systolic PCU -> reordering PMU -> reducing PCU.
    assert spatial.kernels[0].done_tokens == 4 and spatial.kernels[1].done_tokens == 3
    launches = {mode: r.launches for mode, r in reports.items()}
    assert launches["spatial"] == 2 < launches["fused"] < launches["unfused"]
    assert reports["spatial"].cycles < reports["fused"].cycles < reports["unfused"].cycles
    assert reports["spatial"].bytes_moved < reports["fused"].bytes_moved


def test_gemm_row_sum_beyond_one_kernel_of_tile_rows(run_name):
    """Tile rows in kernels of as many as the GEMM's PMU holds the operands of (two of
    4 x 6 rows here), the reordering PMU double-buffered; a GEMM whose output fits one
    vector per row streams straight into the reduction (fused does the same)."""
    seed = 3
    rng = np.random.default_rng(seed)
    graph = _gemm_reduction(11, 6, 16, after="reciprocal")
    compiled = compile_graph(graph, TILE, "spatial")
    assert [k.name.split(" tile ")[1] for k in compiled.kernels] == ["(0..1, 0..3) chunk 0",
                                                                    "(2, 0..3) chunk 0"]
    _run(graph, TILE, "spatial", random_inputs(graph, rng, hard=0.05), run_name, seed)
    narrow = _gemm_reduction(7, 5, 4, "row_sum")
    assert len(compile_graph(narrow, TILE, "fused").kernels) == 1
    assert (compile_graph(narrow, TILE, "fused").kernels
            == compile_graph(narrow, TILE, "spatial").kernels)


def test_what_does_not_fit_names_the_op_and_the_resource():
    chain = r"gemm_chunk\(a, w\) -> row_sum\(h\) -> exp\(r\)"
    with pytest.raises(CompileError, match=chain + r": PMU buffer overflow, the reduction "
                       r"takes whole rows, .* 4 tile columns, whose operands need 80 PMU "
                       r"rows \(1280 bytes\); a PMU holds 64 \(1024 bytes\)"):
        compile_graph(_gemm_reduction(4, 20, 16), TILE, "spatial")
    with pytest.raises(CompileError, match=chain + r": PMU buffer overflow, the PMU that puts "
                       r"the GEMM's rows in order holds a tile row of its output, 80 rows "
                       r"\(1280 bytes\); a PMU holds 64 \(1024 bytes\)"):
        compile_graph(_gemm_reduction(4, 1, 80), TILE, "spatial")
    with pytest.raises(CompileError, match=chain + r": too many units, needs 2 PCUs and 2 "
                       r"PMUs; this RDU has 1 and 1"):
        compile_graph(_gemm_reduction(4, 6, 8), rdu_params("small"), "spatial")
    with pytest.raises(CompileError, match=chain + r": too many flows, needs 5; this RDU "
                       r"has 4"):
        compile_graph(_gemm_reduction(4, 6, 8), RDUParams(rows=2, cols=2, flows=4), "spatial")
    g = Graph()
    h = g.gemm(g.input("a", (4, 6), BF16), g.input("w", (6, 8), BF16), "h")
    g.output(g.row_sum(g.exp(h)))
    with pytest.raises(CompileError, match=r"gemm_chunk\(a, w\) -> exp\(h\) -> row_sum\(exp"
                       r"\d+\): too many units, needs 3 PCUs and 2 PMUs; this RDU has 2 and 2"):
        compile_graph(g, TILE, "spatial")
    fed = r"scale\(x\) -> to_bf16\(xs\) -> a_layout\(xb\) -> gemm_chunk\(xb, w\) -> row_sum\(h\)"
    with pytest.raises(CompileError, match=fed + r": too many units, needs 3 PCUs and 3 PMUs; "
                       r"this RDU has 2 and 2"):
        compile_graph(_fed_gemm(4, 6, 8, "row_sum"), TILE, "spatial")
    with pytest.raises(CompileError, match=fed + r": too many done tokens, 6 units signal "
                       r"done; the control fabric has 4 sinks"):
        compile_graph(_fed_gemm(4, 6, 8, "row_sum"), rdu_params("tile4x4"), "spatial")
    # Fused mode never puts a PMU between two PCUs: it cuts the chain there instead.
    for graph in (_gemm_reduction(4, 20, 16), _gemm_reduction(4, 6, 8)):
        names = [kernel.name for kernel in compile_graph(graph, TILE, "fused").kernels]
        assert names[0].startswith("gemm_chunk(a, w) tile") and names[-1] == "row_sum(h) -> exp(r)"


@pytest.mark.parametrize("preset", ["small", "tile2x2"])
def test_what_spatial_cannot_fuse_compiles_as_fused(preset):
    """Every library kernel but the decode ones (whose ``p @ V`` GEMM is fed on chip,
    see below) compiles to the same kernels (or the same error) in both modes."""
    config = rdu_params(preset)
    for name in KERNEL_NAMES:
        if name in DECODE_KERNELS:
            continue
        results = []
        for mode in ("fused", "spatial"):
            try:
                results.append(compile_graph(kernel_graph(name), config, mode).kernels)
            except CompileError as error:
                results.append(str(error))
        assert results[0] == results[1], name


def test_repadded_gemm_output_falls_back_to_fused(run_name):
    """``n % lanes != 0``: the GEMM's padding columns depend on the data, so the reduction
    reads a repadded copy (lowering) and spatial mode compiles what fused mode does."""
    seed = 4
    graph = _gemm_reduction(3, 5, 6)
    fused = compile_graph(graph, TILE, "fused")
    spatial, _ = _run(graph, TILE, "spatial", random_inputs(graph, np.random.default_rng(seed)),
                      run_name, seed)
    assert spatial.kernels == fused.kernels and len(spatial.kernels) == 3


def test_gemm_a_operand_made_on_chip(seed, run_name):
    """``to_bf16(scale(x))`` runs in each tile row's first GEMM kernel (the PCU makes the
    bf16 rows, a PMU transposes them into A vectors, the GEMM's PMU reorders them behind
    the B halves); neither the bf16 tensor nor its A layout touches device memory."""
    rng = np.random.default_rng(seed)
    m, k, n = int(rng.integers(1, 9)), int(rng.integers(1, 30)), int(rng.integers(1, 21))
    graph = _fed_gemm(m, k, n)
    inputs = random_inputs(graph, rng, hard=0.05)
    fused, fused_report = _run(graph, TILE, "fused", inputs, run_name, seed)
    spatial, report = _run(graph, TILE, "spatial", inputs, run_name, seed)
    print(f"x [{m}, {k}] x w [{k}, {n}]: fused {fused_report.launches} launches, "
          f"{fused_report.cycles} cycles; spatial {report.launches} launches, "
          f"{report.cycles} cycles")
    assert not {"xs", "xb", "xb.A"} & set(spatial.infos)
    first = spatial.kernels[0]
    assert first.name.startswith("scale(x) -> to_bf16(xs) -> a_layout(xb) -> gemm_chunk(xb, w)")
    assert first.done_tokens == 4 and [s.buffer for s in first.streams] == ["w.B", "x", "h"]
    assert report.launches < fused_report.launches
    assert report.cycles < fused_report.cycles


def test_decode_attention_feeds_p_v_gemm_on_chip(run_name):
    """Decode attention: ``to_bf16(e_past)`` feeds the ``p @ V`` GEMM on chip; the same
    bits as the golden model with fewer launches than fused. On the one-PCU tile the fed
    GEMM does not fit (spatial mode raises; fused mode compiles it)."""
    seed = 4
    rng = np.random.default_rng(seed)
    shape = DecoderShape(d_model=8, heads=2, head_dim=8, d_ff=10, tokens=18)
    graph = kernel_graph("attention", decoder=shape)
    inputs = derived_inputs(graph, random_inputs(graph, rng, hard_fraction("attention")),
                            shape)
    fused = compile_graph(graph, TILE, "fused")
    spatial, report = _run(graph, TILE, "spatial", inputs, run_name, seed)
    assert len(spatial.kernels) == len(fused.kernels) - 2 == report.launches
    assert any(kernel.name.startswith("to_bf16(out.e_past) -> a_layout(out.p_past) -> "
                                      "gemm_chunk(out.p_past, v_cache)")
               for kernel in spatial.kernels)
    decoder = kernel_graph("decoder", decoder=shape)
    assert (len(compile_graph(decoder, TILE, "spatial").kernels)
            < len(compile_graph(decoder, TILE, "fused").kernels))
    with pytest.raises(CompileError, match=r"to_bf16\(out.e_past\) -> a_layout\(out.p_past\)"
                       r" -> gemm_chunk\(out.p_past, v_cache\): too many units"):
        compile_graph(graph, rdu_params("small"), "spatial")


def test_placement_puts_each_unit_next_to_the_one_before():
    chain = [UnitKind.PMU, UnitKind.PCU, UnitKind.PMU, UnitKind.PCU]
    assert place_chain(TILE, chain) == [1, 0, 2, 3]
    assert place_chain(rdu_params("small"), chain) is None
    tile4x4 = rdu_params("tile4x4")
    placed = place_chain(tile4x4, chain)
    kinds = [kind for kind, _ in tile4x4.units()]
    first = [[i for i, k in enumerate(kinds) if k == kind] for kind in (UnitKind.PMU,
                                                                        UnitKind.PCU)]
    in_order = [first[0][0], first[1][0], first[0][1], first[1][1]]
    assert chain_hops(tile4x4, placed) < chain_hops(tile4x4, in_order)


@pytest.mark.regress
@pytest.mark.parametrize("sweep_seed", range(3, 11))
def test_spatial_gemm_reduction_sweep(sweep_seed, run_name):
    """Random GEMM -> reduction -> unary chains, spatial on the 2x2 tile: the same bits
    as the golden model, whether fused in one kernel or fallen back."""
    rng = np.random.default_rng(sweep_seed)
    reduce = ("row_sum", "row_max")[sweep_seed % 2]
    # row_max over one vector or over several (which falls back); some not whole vectors
    n = (4 if reduce == "row_max" and sweep_seed < 7 else 4 * int(rng.integers(1, 5))
         ) + (sweep_seed % 3 == 0)
    after = ("exp", "reciprocal", "rsqrt", "silu", "gelu", "to_bf16")[sweep_seed % 6]
    graph = _gemm_reduction(int(rng.integers(1, 14)), int(rng.integers(1, 17)), n, reduce,
                            after)
    _run(graph, TILE, "spatial", random_inputs(graph, rng, hard=0.05), run_name, sweep_seed)


@pytest.mark.regress
@pytest.mark.parametrize("sweep_seed", range(3, 9))
def test_spatial_fed_gemm_sweep(sweep_seed, run_name):
    """Random GEMMs fed on chip (several tile rows, several batches of tile columns):
    the same bits as the golden model."""
    rng = np.random.default_rng(sweep_seed)
    graph = _fed_gemm(int(rng.integers(1, 13)), int(rng.integers(1, 50)),
                      int(rng.integers(1, 25)))
    _run(graph, TILE, "spatial", random_inputs(graph, rng, hard=0.05), run_name, sweep_seed)


@pytest.mark.regress
@pytest.mark.parametrize("name", DECODE_KERNELS)
@pytest.mark.parametrize("sweep_seed", [3, 4, 5])
def test_spatial_decode_sweep(name, sweep_seed, run_name):
    """The decode kernels (their ``p @ V`` GEMMs fed on chip) at random shapes."""
    rng = np.random.default_rng(sweep_seed)
    shape = DecoderShape(d_model=int(rng.integers(1, 12)), heads=int(rng.integers(1, 3)),
                         head_dim=2 * int(rng.integers(1, 5)), d_ff=int(rng.integers(1, 20)),
                         tokens=int(rng.integers(1, 20)))
    graph = kernel_graph(name, decoder=shape)
    inputs = derived_inputs(graph, random_inputs(graph, rng, hard_fraction(name)), shape)
    _run(graph, TILE, "spatial", inputs, run_name, sweep_seed)
