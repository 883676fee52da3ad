"""softmax, RMSNorm and LayerNorm through the kernel compiler: per-row scalar broadcast
(``row_add``/``row_sub``/``row_mul``), constants (``scale``, ``add_const``), ``square``,
column broadcast (``col_add``/``col_mul``) and the padding rules of their reductions.

Golden-only tests pin the operation order of each kernel (an independent step-by-step
NumPy float32 computation must match :func:`evaluate` bit for bit) and the padding
identities the compiler relies on. RTL tests compile the graphs, run them on the RDU
top (Verilator; the host port's AXI channels pause at random, seeded, with
probability 0.3; the runtime's per-command timeout is the watchdog) and compare
every bit with the golden model; shapes are random per seed, columns never a
multiple of the lanes and wider than one beat. Accuracy against float64 is printed.
"""

import json

import numpy as np
import pytest

from hdl.rdu.config import rdu_params
from testbench.cli.main import main
from testbench.compiler import CompileError, Graph, compile_graph, evaluate, run_compiled
from testbench.compiler import golden as cg
from testbench.compiler.library import (
    EPS,
    ROW_KERNELS,
    hard_fraction,
    kernel_graph,
    layernorm,
    random_inputs,
    rmsnorm,
    softmax,
)
from testbench.compiler.lowering import lower
from testbench.golden import numerics as g
from testbench.golden import transcendentals as tr
from testbench.golden.fp_vectors import SPECIAL_F32, hard_f32_values

SEEDS = [1, 2]
SMALL = rdu_params("small")
LANES, DEPTH = SMALL.lanes, SMALL.pmu_depth
NEG_ZERO = 0x80000000


def _ragged(rng, low, high, lanes=LANES):
    value = int(rng.integers(low, high))
    return value + 1 if value % lanes == 0 else value


def _check(got, want, what):
    assert got.shape == want.shape, f"{what}: shape {got.shape}, want {want.shape}"
    differ = np.flatnonzero(got != want)
    if differ.size:
        first = np.unravel_index(differ[0], want.shape)
        raise AssertionError(f"{what}: {differ.size} of {want.size} words differ, first at "
                             f"{first}: got {got[first]:#x} want {want[first]:#x}")


# -- operation order (golden only) ------------------------------------------------------------
def _f32(bits):
    return np.asarray(bits, np.uint32).view(np.float32)


def _bits(values):
    return np.asarray(values, np.float32).view(np.uint32)


def _row_sum_f32(x):
    """row_sum in the hardware order, written out in float32: lane accumulators from -0
    over the row's vectors (padding -0), then the pairwise tree over the lanes."""
    rows, cols = x.shape
    width = -(-cols // LANES) * LANES
    padded = np.full((rows, width), np.float32(-0.0), np.float32)
    padded[:, :cols] = x
    acc = np.full((rows, LANES), np.float32(-0.0), np.float32)
    for j in range(width // LANES):
        acc = acc + padded[:, j * LANES:(j + 1) * LANES]
    while acc.shape[1] > 1:
        acc = acc[:, 0::2] + acc[:, 1::2]
    return acc[:, :1]


def _normal_inputs(rng, rows, cols):
    x = rng.standard_normal((rows, cols)).astype(np.float32)
    gamma = rng.standard_normal((1, cols)).astype(np.float32)
    beta = rng.standard_normal((1, cols)).astype(np.float32)
    return x, gamma, beta


def _graph(name, rows, cols):
    return kernel_graph(name, rows=rows, cols=cols)


@pytest.mark.parametrize("shape", [(3, 5), (4, 17), (2, 64), (1, 1)])
def test_operation_order_matches_the_docstring(shape):
    """evaluate() of each row kernel equals the order written in library.py, computed
    independently in float32 (the transcendentals are the hardware's tail units)."""
    rows, cols = shape
    x, gamma, beta = _normal_inputs(np.random.default_rng(rows * 100 + cols), rows, cols)
    inv_c, eps = np.float32(1.0 / cols), np.float32(EPS)

    m = x.max(axis=1, keepdims=True)
    e = _f32(tr.f32_exp(_bits(x - m)))
    want_softmax = e * _f32(tr.f32_recip(_bits(_row_sum_f32(e))))

    rstd = _f32(tr.f32_rsqrt(_bits(_row_sum_f32(x * x) * inv_c + eps)))
    want_rmsnorm = (x * rstd) * gamma

    d = x - _row_sum_f32(x) * inv_c
    rstd = _f32(tr.f32_rsqrt(_bits(_row_sum_f32(d * d) * inv_c + eps)))
    want_layernorm = ((d * rstd) * gamma) + beta

    arrays = {"x": _bits(x), "gamma": _bits(gamma), "beta": _bits(beta)}
    for name, want in (("softmax", want_softmax), ("rmsnorm", want_rmsnorm),
                       ("layernorm", want_layernorm)):
        graph = _graph(name, rows, cols)
        got = evaluate(graph, {k: arrays[k] for k in graph.inputs}, LANES, DEPTH)["out"]
        _check(got, _bits(want), name)


def test_the_order_is_a_contract_mean_is_a_multiply_by_fp32_reciprocal():
    """Dividing by cols instead of multiplying by fp32(1/cols) changes bits: the
    docstring's order is what the test above pins, not an approximation of it."""
    x, _, _ = _normal_inputs(np.random.default_rng(7), 64, 11)
    s = _row_sum_f32(x)
    assert np.any(_bits(s * np.float32(1 / 11)) != _bits(s / np.float32(11)))
    graph = Graph()
    graph.output(graph.scale(graph.input("x", (64, 1)), 1 / 11, "mean"))
    got = evaluate(graph, {"x": _bits(s)}, LANES, DEPTH)["mean"]
    _check(got, _bits(s * np.float32(1 / 11)), "scale")


# -- padding (golden only) --------------------------------------------------------------------
def _sign_clear(bits):
    bits = np.asarray(bits, np.uint32)
    return (bits >> 31 == 0) | g.is_nan_f32(bits)


def test_plus_zero_padding_is_neutral_for_sign_clear_sums():
    """The identities behind row_sum's +0 rule (lowering docstring): v + (+0) equals
    v + (-0) for every sign-clear v, sums of sign-clear values are sign-clear, and
    +-0 + +-0 stays a zero; exp and square make only sign-clear values."""
    rng = np.random.default_rng(5)
    values = np.concatenate([SPECIAL_F32, hard_f32_values(rng, 20000)]).astype(np.uint32)
    clear = values[_sign_clear(values)]
    assert clear.size > 1000
    zeros = np.zeros_like(clear)
    _check(g.f32_add(clear, zeros), g.f32_add(clear, zeros | NEG_ZERO), "v + +0 vs v + -0")
    _check(g.f32_add(zeros, clear), g.f32_add(zeros | NEG_ZERO, clear), "+0 + v vs -0 + v")
    a, b = np.meshgrid(clear[:400], clear[:400])
    assert _sign_clear(g.f32_add(a, b)).all()
    for z1 in (0, NEG_ZERO):
        for z2 in (0, NEG_ZERO):
            assert int(g.f32_add(np.uint32(z1), np.uint32(z2))) in (0, NEG_ZERO)
    assert _sign_clear(tr.f32_exp(values)).all()
    assert _sign_clear(g.f32_mul(values, values)).all()
    # And the whole reduction: sign-clear rows padded with +0 sum as with -0.
    for cols in (1, 3, 5, 9, 18):
        x = np.abs(_f32(hard_f32_values(rng, 6 * cols))).view(np.uint32).reshape(6, cols)
        x = np.where(g.is_nan_f32(x), np.uint32(0x7FC00000), x)
        width = -(-cols // LANES) * LANES
        plus = np.zeros((6, width), np.uint32)
        plus[:, :cols] = x
        _check(cg.row_sum(plus, LANES), cg.row_sum(x, LANES), f"row_sum +0 padded, {cols}")


def test_softmax_padding_in_nan_free_rows():
    """x padded with -inf: the padding of exp(x - row_max(x)), computed word by word as
    the kernels do, sums as -0 padding would, for rows of special values too (all -inf,
    +inf, NaN, subnormals, extremes)."""
    rng = np.random.default_rng(11)
    for cols in (1, 2, 5, 6, 7, 13):
        rows = 64
        x = np.where(rng.random((rows, cols)) < 0.3, hard_f32_values(rng, rows * cols).reshape(
            rows, cols), _bits(rng.standard_normal((rows, cols)) * 30))
        x[0] = 0xFF800000                       # all -inf
        x[1, 0] = 0x7F800000                    # one +inf
        x[2, -1] = 0x7FC00000                   # one NaN
        x[3] = rng.choice(SPECIAL_F32, cols)
        width = -(-cols // LANES) * LANES
        padded = np.full((rows, width), np.uint32(0xFF800000), np.uint32)
        padded[:, :cols] = x
        m = cg.row_max(x, LANES)
        e_words = tr.f32_exp(g.f32_sub(padded, m))  # what the row_sub -> exp kernels write
        e = tr.f32_exp(g.f32_sub(x, m))
        _check(cg.row_sum(e_words, LANES), cg.row_sum(e, LANES), f"softmax sum, {cols} cols")
        clean = ~g.is_nan_f32(e).any(axis=1)
        assert (e_words[clean, cols:] == 0).all(), "+0 padding in NaN-free rows"


def _prim_names(graph):
    prims, infos = lower(graph, LANES, DEPTH)
    return [p.kind for p in prims], prims, infos


def test_padding_the_compiler_picks():
    """rmsnorm sums x*x over +0 padding and softmax exp(x - max) over +0 padding in
    NaN-free rows (sign-clear values: no extra kernel); layernorm's (x - mean)^2 and
    exp(x - max(y)) have data-dependent padding and are repadded to exactly -0.0 by a
    select pair op before their row_sum, and so is a known wrong padding; whole
    vectors need nothing."""
    kinds, _, infos = _prim_names(_graph("rmsnorm", 3, 6))
    assert "pair_op" in kinds  # gamma's col_mul
    assert infos["out.sq"].pad == 0 and infos["out.sq"].nonneg
    assert not any(name.endswith(".mask") for name in infos)
    _, _, infos = _prim_names(_graph("softmax", 3, 6))
    assert infos["x"].pad == 0xFF800000
    assert (infos["out.shifted"].pad, infos["out.shifted"].nan_rows) == (0xFF800000, True)
    assert (infos["out.exp"].pad, infos["out.exp"].nonneg, infos["out.exp"].nan_rows) == (
        0, True, True)
    assert not any(name.endswith(".mask") for name in infos)

    other = Graph()
    x, y = other.input("x", (3, 6)), other.input("y", (3, 6))
    other.output(other.row_sum(other.exp(other.row_sub(x, other.row_max(y)), "out.exp")))
    for graph, repadded in ((other, "out.exp"), (_graph("layernorm", 3, 6), "out.sq")):
        _, prims, infos = _prim_names(graph)
        assert infos[repadded].pad is None, "data-dependent padding"
        fixed = f"{repadded}.pad80000000"
        assert infos[fixed].pad == NEG_ZERO
        assert infos[f"{repadded}.mask"].mask
        (select,) = [p for p in prims if p.kind == "pair_op" and p.attrs["op"] == "select"]
        assert select.inputs == (repadded, f"{repadded}.mask")
        (reduce,) = [p for p in prims if p.kind == "row_sum" and repadded in p.inputs[0]]
        assert reduce.inputs == (fixed,)

    for name in ROW_KERNELS:  # 8 columns: no padding words at all
        kinds, prims, _ = _prim_names(_graph(name, 3, 8))
        assert not any(p.attrs.get("op") == "select" for p in prims), name

    known = Graph()
    known.output(known.row_sum(known.scale(known.input("x", (2, 5)), 2.0)))
    _, prims, infos = _prim_names(known)  # 0 * 2 = +0, not sign-clear-proven: repadded
    assert infos["scale0"].pad == 0 and infos["scale0.pad80000000"].pad == NEG_ZERO
    (reduce,) = [p for p in prims if p.kind == "row_sum"]
    assert reduce.inputs == ("scale0.pad80000000",)
    proven = Graph()
    proven.output(proven.row_sum(proven.square(proven.scale(proven.input("x", (2, 5)), 2.0))))
    compile_graph(proven, SMALL)


def test_row_and_column_op_shape_errors():
    graph = Graph()
    x = graph.input("x", (3, 5))
    with pytest.raises(CompileError, match=r"row_sub x, s: shape mismatch, s is \[3, 5\], "
                                           r"not \[3, 1\]"):
        graph.row_sub(x, graph.input("s", (3, 5)))
    with pytest.raises(CompileError, match=r"col_mul x, w: shape mismatch, w is \[3, 5\], "
                                           r"not \[1, 5\]"):
        graph.col_mul(x, graph.input("w", (3, 5)))
    with pytest.raises(CompileError, match=r"scale b: unsupported dtype bf16"):
        graph.scale(graph.input("b", (3, 5), "bf16"), 2.0)


def test_fused_grouping_of_stage_ops():
    """Fused on the 1-PCU RDU: the row op takes exp on its tail, scale -> add_const ->
    rsqrt share one PCU (stages 0, 1 and the tail), square does not pull row_sum onto a
    second PCU; every group fits one PCU."""
    names = [k.name for k in compile_graph(_graph("softmax", 3, 6), SMALL, "fused").kernels]
    assert "row_sub(x, out.max) -> exp(out.shifted)" in names
    names = [k.name for k in compile_graph(_graph("layernorm", 3, 6), SMALL, "fused").kernels]
    assert "scale(out.ss) -> add_const(out.var) -> rsqrt(out.var_eps)" in names
    assert "square(out.centered)" in names
    unfused = compile_graph(_graph("layernorm", 3, 6), SMALL, "unfused")
    assert len(names) == len(unfused.kernels) - 2


def test_row_op_streams_alternate_single_beats():
    """A row op's two READ streams are single-beat bursts of equal length (x, and s[r]
    repeated per vector through a stride-0 level), so the AGCU's round-robin arbiter
    interleaves them one for one (kernels.pipeline.row_op_streams: bursts deadlock)."""
    graph = Graph()
    graph.output(graph.row_mul(graph.input("x", (40, 9)), graph.input("s", (40, 1)), "y"))
    (kernel,) = compile_graph(graph, SMALL).kernels
    x, s, _ = kernel.streams
    assert (x.buffer, x.bounds, x.strides) == ("x", (1, 120, 1), (1, 1, 0))
    assert (s.buffer, s.bounds, s.strides) == ("s", (3, 40, 1), (0, 1, 0))
    assert x.flow != s.flow and x.beats == s.beats


# -- on the RDU -------------------------------------------------------------------------------
def _accuracy(name, inputs, got):
    """(max relative error over normal results, max error / row max |reference|) against
    float64, over rows and columns whose inputs are finite and below 1e15 in magnitude (no
    fp32 overflow)."""
    x = _f32(inputs["x"]).astype(np.float64)
    ok = np.isfinite(x) & (np.abs(x) < 1e15)
    rows = ok.all(axis=1, keepdims=True)
    cols = np.ones((1, x.shape[1]), bool)
    for p in ("gamma", "beta"):
        if p in inputs:
            v = _f32(inputs[p]).astype(np.float64)
            cols &= np.isfinite(v) & (np.abs(v) < 1e15)
    x = np.where(ok, x, 0.0)
    if name == "softmax":
        e = np.exp(x - x.max(axis=1, keepdims=True))
        ref = e / e.sum(axis=1, keepdims=True)
    elif name == "rmsnorm":
        gamma = _f32(inputs["gamma"]).astype(np.float64)
        ref = x / np.sqrt((x * x).mean(axis=1, keepdims=True) + EPS) * gamma
    else:
        gamma, beta = (_f32(inputs[p]).astype(np.float64) for p in ("gamma", "beta"))
        d = x - x.mean(axis=1, keepdims=True)
        ref = d / np.sqrt((d * d).mean(axis=1, keepdims=True) + EPS) * gamma + beta
    mask = rows & cols & np.isfinite(ref)
    err = np.abs(_f32(got).astype(np.float64) - ref)
    scale = np.abs(np.where(mask, ref, 0.0)).max(axis=1, keepdims=True)
    nonzero = mask & (np.abs(ref) >= 2.0 ** -126)  # relative error of normal results
    rel = (err[nonzero] / np.abs(ref[nonzero])).max() if nonzero.any() else float("nan")
    norm = (err / np.where(scale > 0, scale, 1.0))[mask].max() if mask.any() else float("nan")
    return rel, norm, int(mask.sum())


def _run_and_check(graph, inputs, run_name, seed, mode="unfused", **kwargs):
    compiled = compile_graph(graph, SMALL, mode)
    report = run_compiled(compiled, inputs, run_name=f"{run_name}-{mode}", seed=seed,
                          host_stall=0.3, **kwargs)
    want = evaluate(graph, inputs, LANES, DEPTH)
    for name in graph.outputs:
        _check(report.outputs[name], want[name], f"{mode} {name}")
    return report


@pytest.mark.parametrize("name", ROW_KERNELS)
def test_row_kernel_bit_exact_on_the_rdu(name, seed, run_name, waves):
    rng = np.random.default_rng(seed)
    rows, cols = int(rng.integers(2, 6)), _ragged(rng, 5, 22)
    graph = _graph(name, rows, cols)
    inputs = random_inputs(graph, rng, hard_fraction(name))
    report = _run_and_check(graph, inputs, run_name, seed, waves=waves)
    rel, norm, count = _accuracy(name, inputs, report.outputs["out"])
    print(f"{name} [{rows}, {cols}]: {report.launches} launches, {report.cycles} cycles, "
          f"{report.bytes_moved} bytes; vs float64 over {count} values: max relative error "
          f"{rel:.3g}, max error / row max {norm:.3g}")


def test_row_op_over_many_rows(run_name, waves):
    """40 rows of one vector: a burst of 16 scalars would fill the PCU's scalar FIFO with
    the vectors it needs stuck behind them in the AGCU's read buffer (it hung)."""
    graph = Graph()
    graph.output(graph.row_sub(graph.input("x", (40, 3)), graph.input("s", (40, 1)), "y"))
    inputs = random_inputs(graph, np.random.default_rng(6))
    _run_and_check(graph, inputs, run_name, 6, orchestration="hardware", waves=waves,
                   timeout_cycles=20_000)


def test_every_new_op_with_hard_values(seed, run_name, waves):
    """row_add/row_sub/row_mul, col_add/col_mul, scale, add_const, square on half hard
    values (NaN, inf, subnormals, extremes), one simulation."""
    rng = np.random.default_rng(seed)
    rows, cols = int(rng.integers(2, 5)), _ragged(rng, 5, 14)
    graph = Graph()
    x, y = graph.input("x", (rows, cols)), graph.input("y", (rows, cols))
    s, w = graph.input("s", (rows, 1)), graph.input("w", (1, cols), weight=True)
    graph.output(graph.row_add(x, s), graph.row_sub(y, s), graph.row_mul(x, s),
                 graph.col_add(y, w), graph.col_mul(x, w), graph.scale(x, -0.375),
                 graph.add_const(y, 3.0e38), graph.square(y))
    _run_and_check(graph, random_inputs(graph, rng), run_name, seed, waves=waves)


def test_all_three_fused_hardware_orchestrated(run_name, waves):
    """softmax, rmsnorm and layernorm of the same x in one graph, fused, launched as one
    AGCU schedule; the norms share gamma's broadcast. x is padded with -inf for softmax's
    row_max (the first reduction of it); layernorm's row_sum reads a copy repadded with
    -0.0."""
    seed = 3
    rng = np.random.default_rng(seed)
    rows, cols = 3, 9
    graph = Graph()
    x = graph.input("x", (rows, cols))
    gamma, beta = (graph.input(n, (1, cols), weight=True) for n in ("gamma", "beta"))
    graph.output(softmax(graph, x, "sm"), rmsnorm(graph, x, gamma, "rms"),
                 layernorm(graph, x, gamma, beta, "ln"))
    inputs = random_inputs(graph, rng, 0.02)
    compiled = compile_graph(graph, SMALL, "fused")
    assert sum(k.name.startswith("broadcast(gamma)") for k in compiled.kernels) == 1
    assert compiled.infos["x"].pad == 0xFF800000
    assert any(k.name.startswith("row_sum(x.pad80000000)") for k in compiled.kernels)
    report = _run_and_check(graph, inputs, run_name, seed, mode="fused",
                            orchestration="hardware", waves=waves)
    print(f"fused, hardware-orchestrated: {report.launches} launches, {report.cycles} cycles")


def test_cli_kernel_layernorm(tmp_path, capsys):
    saved = tmp_path / "ln.npz"
    assert main(["kernel", "layernorm", "--rows", "2", "--cols", "6", "--seed", "4", "--json",
                 "--quiet", "--outputs", str(saved)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] and report["mismatches"] == 0 and report["shape"] == [2, 6]
    arrays = np.load(saved)
    assert set(arrays.files) == {"x", "gamma", "beta", "out", "golden"}
    assert np.array_equal(arrays["out"], arrays["golden"])


@pytest.mark.regress
@pytest.mark.parametrize("mode", ["unfused", "fused"])
@pytest.mark.parametrize("name", ROW_KERNELS)
@pytest.mark.parametrize("sweep_seed", [3, 4, 5])
def test_row_kernel_sweep(name, mode, sweep_seed, run_name):
    """Random shapes up to 20 x 40 (several kernels per pair op, whole vectors too)."""
    rng = np.random.default_rng(sweep_seed)
    rows, cols = int(rng.integers(1, 21)), int(rng.integers(1, 41))
    graph = _graph(name, rows, cols)
    inputs = random_inputs(graph, rng, hard_fraction(name))
    report = _run_and_check(graph, inputs, f"{run_name}", sweep_seed, mode=mode,
                            orchestration="hardware" if sweep_seed % 2 else "software",
                            timeout_cycles=200_000)
    rel, norm, count = _accuracy(name, inputs, report.outputs["out"])
    print(f"{name} [{rows}, {cols}] {mode}: {report.launches} launches, {report.cycles} "
          f"cycles; vs float64 over {count} values: max relative error {rel:.3g}, "
          f"max error / row max {norm:.3g}")
