"""Spatial compiler mode: GEMMs stream into their row reductions, and from the op that
makes their A operand, on chip.

On the 2x2 tile, ``spatial`` compiles a GEMM feeding ``row_sum`` (and the unary op
after it) into one kernel: the GEMM's PMU and systolic PCU, a PMU that puts the
output rows in order, the reducing PCU; the GEMM's result never reaches device
memory. A chain on one PCU that makes a GEMM's bf16 A operand (``to_bf16(...)``)
runs in the GEMM's kernel: a PMU transposes its rows into A vectors for the GEMM's
PMU. Runs go through the runtime on the RDU top (Verilator; the host port's AXI
channels pause at random, seeded, with probability 0.3) and are compared bit for
bit with the golden model. Spatial mode joins fused mode's groups only where the
joined group fits the RDU (the kernel builders' ResourceError decides); elsewhere it
cuts where fused mode cuts, so it compiles whatever fused mode compiles, in at most
as many kernels, and what neither fits raises CompileError naming the op and the
resource before anything is simulated.
"""

import numpy as np
import pytest

from hdl.rdu.config import RDUParams, UnitKind, rdu_params
from testbench.compiler import BF16, CompileError, Graph, compile_graph, evaluate, run_compiled
from testbench.compiler.compiler import MAX_STREAMED_BEATS
from testbench.compiler.kernels import BUILDERS, KernelContext
from testbench.compiler.kernels.common import ResourceError
from testbench.compiler.library import (
    DECODE_KERNELS,
    KERNEL_NAMES,
    hard_fraction,
    kernel_graph,
    random_inputs,
)
from testbench.compiler.lowering import lower
from testbench.compiler.placement import group_prims
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


def _gemm_exp_reduction(m: int, k: int, n: int) -> Graph:
    """``row_sum(exp(a @ w))``: the buffered reduction would need a third PCU."""
    g = Graph()
    h = g.gemm(g.input("a", (m, k), BF16), g.input("w", (k, n), BF16), "h")
    g.output(g.row_sum(g.exp(h)))
    return g


def _unfitted_group(graph, config) -> list:
    """The kernels of the group spatial mode would make of ``graph`` if every spatial
    join were made whatever it needs (``group_prims`` without ``fits``)."""
    prims, infos = lower(graph, config.lanes, config.pmu_depth, True)
    groups = group_prims(prims, set(graph.outputs), "spatial", config.stages)
    context = KernelContext(config, infos, BUILDERS, MAX_STREAMED_BEATS)
    (group,) = [g for g in groups if "gemm_chunk" in [prim.kind for prim in g]]
    return context.group(group)


def _kernels(graph, config, mode):
    """The kernels of ``graph`` in ``mode``, or the CompileError's message."""
    try:
        return compile_graph(graph, config, mode).kernels
    except CompileError as error:
        return str(error)


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


@pytest.mark.parametrize("graph, config, resource", [
    (_gemm_reduction(4, 20, 16), TILE, r"PMU buffer overflow, the reduction takes whole rows, "
     r".* 4 tile columns, whose operands need 80 PMU rows \(1280 bytes\); a PMU holds 64 "
     r"\(1024 bytes\)"),
    (_gemm_reduction(4, 1, 80), TILE, r"PMU buffer overflow, the PMU that puts the GEMM's "
     r"rows in order holds a tile row of its output, 80 rows \(1280 bytes\); a PMU holds 64 "
     r"\(1024 bytes\)"),
    (_gemm_reduction(4, 6, 8), rdu_params("small"), r"too many units, needs 2 PCUs and 2 "
     r"PMUs; this RDU has 1 and 1"),
    (_gemm_reduction(4, 6, 8), RDUParams(rows=2, cols=2, flows=4), r"too many flows, needs 5; "
     r"this RDU has 4"),
    (_gemm_exp_reduction(4, 6, 8), TILE, r"too many units, needs 3 PCUs and 2 PMUs; this RDU "
     r"has 2 and 2"),
], ids=["operands", "row-order", "units", "flows", "third-pcu"])
def test_what_does_not_fit_is_cut_where_fused_cuts(graph, config, resource):
    """The buffered GEMM -> reduction group would need more than the RDU has (the
    builder names the resource); spatial mode compiles fused mode's kernels instead."""
    with pytest.raises(ResourceError, match=r"gemm_chunk\(a, w\) -> .*row_sum\(.*: " + resource):
        _unfitted_group(graph, config)
    fused = compile_graph(graph, config, "fused").kernels
    assert compile_graph(graph, config, "spatial").kernels == fused
    assert fused[-1].name.startswith(("row_sum(h)", "row_sum(exp"))


def test_fed_gemm_keeps_what_fits():
    """The feed chain, the GEMM and its buffered reduction would need 3 PCUs and 3 PMUs
    (6 done tokens on the 4x4 tile): spatial mode feeds the GEMM on chip and leaves
    the reduction in a kernel of its own, fewer kernels than fused mode; on the
    one-PCU tile nothing spatial fits and it compiles fused mode's kernels."""
    graph = _fed_gemm(4, 6, 8, "row_sum")
    fed = r"scale\(x\) -> to_bf16\(xs\) -> a_layout\(xb\) -> gemm_chunk\(xb, w\) -> row_sum\(h\)"
    for config, resource in ((TILE, r"too many units, needs 3 PCUs and 3 PMUs; this RDU has 2 "
                                    r"and 2"),
                             (rdu_params("tile4x4"), r"too many done tokens, 6 units signal "
                                                     r"done; the control fabric has 4 sinks")):
        with pytest.raises(ResourceError, match=fed + ": " + resource):
            _unfitted_group(graph, config)
        names = [kernel.name for kernel in compile_graph(graph, config, "spatial").kernels]
        assert names[0].startswith("scale(x) -> to_bf16(xs) -> a_layout(xb) -> gemm_chunk(xb, w)")
        assert names[-1] == "row_sum(h)"
        assert len(names) < len(compile_graph(graph, config, "fused").kernels)
    small = rdu_params("small")
    assert (compile_graph(graph, small, "spatial").kernels
            == compile_graph(graph, small, "fused").kernels)


def test_what_fused_cannot_fit_spatial_cannot_either():
    """A resource error fused mode raises, spatial mode raises too, naming the op and
    the resource."""
    g = Graph()
    g.output(g.exp(g.gemm(g.input("a", (4, 6), BF16), g.input("w", (6, 8), BF16), "h"), "out"))
    decoder = kernel_graph("decoder", decoder=DecoderShape(d_model=8, heads=1, head_dim=4,
                                                           d_ff=8, tokens=4))
    for graph, config, message in (
            (g, rdu_params("small"), r"gemm_chunk\(a, w\) -> exp\(h\): too many units, "
                                     r"needs 2 PCUs; this RDU has 1"),
            (decoder, rdu_params("coe"), r"gemm_chunk\(attn.xn, wv0\) -> to_bf16\(h0.v\): "
                                         r"too many units, needs 2 PCUs; this RDU has 1"),
            (_gemm_reduction(4, 6, 4), RDUParams(rows=2, cols=2, flows=2),
             r"gemm_chunk\(a, w\) -> row_sum\(h\) -> exp\(r\): too many flows, needs 4; "
             r"this RDU has 2")):
        for mode in ("fused", "spatial"):
            with pytest.raises(CompileError, match=message):
                compile_graph(graph, config, mode)


@pytest.mark.parametrize("preset", ["small", "tile2x2", "tile4x4"])
def test_spatial_compiles_what_fused_compiles(preset):
    """Every library kernel compiles in spatial mode whenever it does in fused mode, in
    at most as many kernels (the same error otherwise); all but the decode ones (whose
    ``p @ V`` GEMM may be fed on chip) to the same kernels."""
    config = rdu_params(preset)
    for name in KERNEL_NAMES:
        graph = kernel_graph(name)
        fused, spatial = (_kernels(graph, config, mode) for mode in ("fused", "spatial"))
        if isinstance(fused, str) or name not in DECODE_KERNELS:
            assert spatial == fused, name
        else:
            assert not isinstance(spatial, str) and len(spatial) <= len(fused), name


def test_graphs_that_do_not_fit_compile_as_fused():
    """Decode attention on the one-PCU tile, GEMM (K = 20, n = 16) -> row_sum and GEMM
    -> exp -> row_sum on the 2x2 tile: no spatial join fits, so spatial mode compiles
    fused mode's kernels."""
    for graph, config in ((kernel_graph("attention"), rdu_params("small")),
                          (_gemm_reduction(4, 20, 16), TILE),
                          (_gemm_exp_reduction(4, 6, 8), TILE)):
        fused = compile_graph(graph, config, "fused")
        spatial = compile_graph(graph, config, "spatial")
        assert spatial.kernels == fused.kernels
        assert [len(g) for g in spatial.groups] == [len(g) for g in fused.groups]


def test_fed_gemm_fallback_runs_bit_exact(run_name):
    """On the RTL: the fed GEMM in one kernel, its buffered reduction (which does not
    fit beside it) in the next, the same bits as the golden model and as fused mode."""
    seed = 5
    graph = _fed_gemm(5, 6, 8, "row_sum")
    inputs = random_inputs(graph, np.random.default_rng(seed), hard=0.05)
    _, fused = _run(graph, TILE, "fused", inputs, run_name, seed)
    spatial, report = _run(graph, TILE, "spatial", inputs, run_name, seed)
    assert [kernel.name.split(" tile ")[0] for kernel in spatial.kernels] == [
        "scale(x) -> to_bf16(xs) -> a_layout(xb) -> gemm_chunk(xb, w)",
        "scale(x) -> to_bf16(xs) -> a_layout(xb) -> gemm_chunk(xb, w)", "row_sum(h)"]
    assert report.launches < fused.launches


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
    GEMM does not fit: spatial mode compiles fused mode's kernels."""
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
    small = rdu_params("small")
    assert (compile_graph(graph, small, "spatial").kernels
            == compile_graph(graph, small, "fused").kernels)


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
