"""Kernel compiler v1 without simulation: every compile-time error, tiling and fusion rules.

Each error is a :class:`CompileError` (a ValueError) raised before anything is
simulated, and its message names the op and the resource.
"""

import re

import numpy as np
import pytest

from hdl.agcu.arguments import READ, pattern_addresses
from hdl.rdu.config import UnitKind, rdu_params
from hdl.tile.config_distributor import COUNT_BITS, TARGET_BITS
from hdl.tile.targets import config_targets
from pcu_pmu.pmu.config import PMUConfig
from testbench.compiler import BF16, CompileError, Graph, compile_graph, evaluate
from testbench.compiler.execute import host_buffers
from testbench.compiler.golden import row_max, row_sum
from testbench.compiler.layout import GemmPlan
from testbench.compiler.library import kernel_graph, random_inputs
from testbench.golden import numerics as g
from testbench.golden.pmu import PMUModel

SMALL = rdu_params("small")


def _raises(match, build, config=SMALL, mode="unfused"):
    with pytest.raises(CompileError, match=match) as error:
        compile_graph(build(), config, mode)
    assert isinstance(error.value, ValueError)
    return str(error.value)


def test_too_many_units():
    message = _raises(r"gemm_chunk\(x, w1\) -> silu\(h1\): too many units, needs 2 PCUs; "
                      r"this RDU has 1", lambda: kernel_graph("swiglu"), mode="fused")
    assert "gemm" in message
    # The same graph fits a tile with two PCUs.
    compile_graph(kernel_graph("swiglu"), rdu_params("tile2x2"), "fused")


def test_unary_chain_needs_one_pcu_per_tail_op():
    def build():
        gr = Graph()
        gr.output(gr.gelu(gr.exp(gr.input("x", (2, 4)))))
        return gr
    _raises(r"exp\(x\) -> gelu\(exp0\): too many units, needs 2 PCUs", build, mode="fused")
    assert len(compile_graph(build(), SMALL, "unfused").kernels) == 2


def test_pmu_overflow():
    _raises(r"gemm a, b: PMU overflow, K = 70 needs 70 PMU rows per output tile; the PMU "
            r"holds 64", lambda: kernel_graph("gemm", k=70), mode="fused")
    # Unfused, K is cut into two chunks of 35 whose partial products add in memory: per
    # chunk a kernel streams A, then B (ordered after A), and multiplies; then one add.
    kernels = compile_graph(kernel_graph("gemm", k=70), SMALL).kernels
    assert [k.name for k in kernels] == ["gemm_chunk(a, b) tile (0, 0..0) chunk 0",
                                         "gemm_chunk(a, b) tile (0, 0..0) chunk 1",
                                         "add(out.p0, out.p1)"]
    for kernel in kernels[:2]:
        a, b = [s for s in kernel.streams if s.direction == READ]
        assert (a.buffer, a.ordered, b.buffer, b.ordered) == ("a.A", False, "b.B", True)


def test_device_memory_overflow():
    _raises(r"device memory overflow", lambda: kernel_graph("add", rows=1000, cols=16))


def test_pcu_counter_overflow():
    _raises(r"row_sum\(x\): PCU counter overflow, vectors per row = 65550 exceeds 65535",
            lambda: kernel_graph("row_sum", rows=1, cols=4 * 65550))


def test_long_streams_are_cut_into_kernels(monkeypatch):
    """A kernel that emits while it reads streams at most MAX_STREAMED_BEATS beats
    (here lowered to 32 to see the cut); GEMM kernels are PMU-buffered and not cut."""
    import testbench.compiler.compiler as compiler_module

    monkeypatch.setattr(compiler_module, "MAX_STREAMED_BEATS", 32)
    compiled = compile_graph(kernel_graph("exp", rows=20, cols=7), SMALL)  # 40 vectors
    assert [k.name for k in compiled.kernels] == ["exp(x) [vectors 0..]", "exp(x) [vectors 32..]"]
    for name, rows, cols in (("row_sum", 13, 21), ("row_max", 13, 21), ("mul", 9, 30),
                             ("add", 40, 7)):
        for kernel in compile_graph(kernel_graph(name, rows=rows, cols=cols), SMALL).kernels:
            reads = sum(s.beats for s in kernel.streams if s.direction == 0)
            assert reads <= 32, (kernel.name, reads)


@pytest.mark.parametrize("build, match", [
    (lambda gr: gr.gemm(gr.input("a", (4, 8), BF16), gr.input("b", (7, 4), BF16)),
     r"gemm a @ b: shape mismatch, \[4, 8\] x \[7, 4\]"),
    (lambda gr: gr.add(gr.input("a", (4, 8)), gr.input("b", (4, 9))),
     r"add a, b: shape mismatch, \[4, 8\] and \[4, 9\]"),
    (lambda gr: gr.input("a", (4,)), r"input a: shape \(4,\) is not \[rows >= 1, cols >= 1\]"),
])
def test_shape_mismatch(build, match):
    with pytest.raises(CompileError, match=match):
        build(Graph())


@pytest.mark.parametrize("build, match", [
    (lambda gr: gr.exp(gr.input("x", (4, 4), BF16)), r"exp x: unsupported dtype bf16"),
    (lambda gr: gr.gemm(gr.input("a", (4, 4)), gr.input("b", (4, 4))),
     r"gemm a, b: unsupported dtype fp32 for operand a \(gemm takes bf16\)"),
    (lambda gr: gr.row_sum(gr.to_bf16(gr.input("x", (4, 4)))),
     r"row_sum to_bf160: unsupported dtype bf16"),
    (lambda gr: gr.input("x", (4, 4), "fp16"), r"input x: unsupported dtype 'fp16'"),
])
def test_unsupported_dtype(build, match):
    with pytest.raises(CompileError, match=match):
        build(Graph())


def test_padding_that_would_change_a_reduction_is_repadded():
    gr = Graph()
    gr.output(gr.row_sum(gr.exp(gr.input("x", (2, 5)))))
    # exp of the host's +0 padding is 1.0, not -0.0 (the identity of the sum): the
    # compiler inserts a masked select that repads exp0 with -0.0 before the row_sum.
    compiled = compile_graph(gr, rdu_params("small"))
    assert compiled.infos["exp0.pad80000000"].pad == 0x80000000
    assert any(k.name.startswith("pair_op(exp0, exp0.mask)") for k in compiled.kernels)


def test_input_read_by_row_sum_and_row_max_is_repadded_for_one():
    gr = Graph()
    x = gr.input("x", (2, 5))
    gr.output(gr.row_max(x), gr.row_sum(x))
    compiled = compile_graph(gr, SMALL)
    # The host pads x for the first reduction (row_max: -inf); row_sum reads a copy
    # repadded with -0.0 by a masked select.
    assert compiled.infos["x"].pad == 0xFF800000
    assert compiled.infos["x.pad80000000"].pad == 0x80000000
    assert any(k.name.startswith("row_sum(x.pad80000000)") for k in compiled.kernels)
    # Whole vectors need no padding at all.
    gr = Graph()
    x = gr.input("x", (2, 8))
    gr.output(gr.row_sum(x), gr.row_max(x))
    assert not any("select" in k.name or ".pad" in k.name
                   for k in compile_graph(gr, SMALL).kernels)


def test_gemm_b_operand_must_be_a_graph_input():
    def build():
        gr = Graph()
        b = gr.to_bf16(gr.input("y", (4, 4)))
        gr.output(gr.gemm(gr.input("a", (4, 4), BF16), b))
        return gr
    _raises(r"gemm a, to_bf160: operand to_bf160 must be a graph input \(the host lays B "
            r"operands out", build)


def test_unknown_mode_and_names():
    with pytest.raises(CompileError, match="unknown mode"):
        compile_graph(kernel_graph("exp"), SMALL, "sideways")
    with pytest.raises(CompileError, match="no tensor 'nope'"):
        Graph().exp("nope")


def test_gemm_plan_tiles_and_chunks():
    plan = GemmPlan(m=5, k=130, n=9, lanes=4, pmu_depth=64)
    assert (plan.tile_rows, plan.tile_cols, plan.chunks, plan.kc) == (2, 3, 3, 44)
    assert plan.tiles_per_kernel == 1 and len(list(plan.batches())) == 6
    plan = GemmPlan(m=4, k=9, n=12, lanes=4, pmu_depth=64)
    assert (plan.chunks, plan.tiles_per_kernel, list(plan.batches())) == (1, 3, [(0, 0, 3)])


def test_fusion_launch_counts():
    gr = Graph()
    a, b, c = (gr.input(name, (3, 6)) for name in "abc")
    gr.output(gr.silu(gr.add(a, b)), gr.exp(gr.mul(a, c)), gr.reciprocal(gr.row_sum(c)))
    unfused = compile_graph(gr, SMALL, "unfused")
    fused = compile_graph(gr, SMALL, "fused")
    assert [k.name for k in fused.kernels] == [
        "add(a, b) -> silu(add0)", "pair_op(a, c)", "untranspose(mul2.pairs) -> exp(mul2)",
        "row_sum(c) -> reciprocal(row_sum4)"]
    assert len(unfused.kernels) == 7
    assert fused.bytes_moved() < unfused.bytes_moved()


def test_golden_reduction_orders():
    """row_sum: per-lane accumulation over vectors, then the pairwise tree (not left to right)."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 11)).astype(np.float32).view(np.uint32)
    got = row_sum(x, 4)[:, 0]
    for r in range(3):
        padded = np.concatenate([x[r], np.full(1, 0x80000000, np.uint32)]).reshape(3, 4)
        acc = np.full(4, 0x80000000, np.uint32)
        for vector in padded:
            acc = g.f32_add(acc, vector)
        want = g.f32_add(g.f32_add(acc[0], acc[1]), g.f32_add(acc[2], acc[3]))
        assert got[r] == want
    # Padding with -inf never changes a max, -0.0 never changes a sum.
    y = np.array([[0xFF800000, 0x80000000, 0x00000000, 0x3F800000, 0xBF800000]], np.uint32)
    assert row_max(y, 4)[0, 0] == 0x3F800000
    assert row_sum(np.array([[0x80000000] * 5], np.uint32), 4)[0, 0] == 0x80000000


def test_golden_gemm_chunks_accumulate_in_order():
    rng = np.random.default_rng(3)
    a = (rng.standard_normal((2, 70)).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    b = (rng.standard_normal((70, 3)).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    gr = kernel_graph("gemm", m=2, k=70, n=3)
    got = evaluate(gr, {"a": a, "b": b}, 4, 64)["out"]
    from testbench.golden.systolic import systolic_tile

    want = g.f32_add(systolic_tile(a[:, :35], b[:35]), systolic_tile(a[:, 35:], b[35:]))
    assert np.array_equal(got, want)


def _pmu_configs(image, pmu: int) -> list[PMUConfig]:
    """The PMU records of ``pmu`` in a program image's Program Load words."""
    target = config_targets(SMALL)[f"unit{pmu}"]
    words, found, i = image.words, [], 0
    while i < len(words):
        count = (words[i] >> TARGET_BITS) & ((1 << COUNT_BITS) - 1)
        if words[i] & ((1 << TARGET_BITS) - 1) == target:
            found.append(PMUConfig.from_words(words[i + 1:i + 1 + count]))
        i += 1 + count
    return found


@pytest.mark.parametrize("m, k, n", [(5, 9, 14), (6, 20, 18), (9, 70, 6), (3, 130, 9)])
def test_gemm_streams_put_the_packed_operands_in_the_pmu(m, k, n):
    """The A and B buffers (host layouts), streamed by each kernel's descriptors into the
    PMU golden model under each kernel's PMU configuration, make the PMU read exactly the
    packed operand words of the tiles that kernel computes."""
    rng = np.random.default_rng(m * k * n)
    graph = kernel_graph("gemm", m=m, k=k, n=n)
    compiled = compile_graph(graph, SMALL)
    inputs = random_inputs(graph, rng)
    plan = GemmPlan(m, k, n, SMALL.lanes, SMALL.pmu_depth)
    assert compiled.weight_buffers == {"b.B"}
    buffers = host_buffers(compiled, inputs)
    assert set(buffers) == {"a.A", "b.B"}
    assert host_buffers(compiled, {"b": inputs["b"]}, compiled.weight_buffers).keys() == {"b.B"}
    assert np.all(buffers["a.A"] >> 16 == 0) and np.all(buffers["b.B"] & 0xFFFF == 0)
    packed = plan.pack(inputs["a"], inputs["b"]).reshape(
        plan.chunks, plan.tile_rows, plan.tile_cols, plan.kc, SMALL.lanes)
    addresses, beat, address = {}, SMALL.vector_bits // 8, 0
    for name, info in compiled.infos.items():
        addresses[name] = address
        address += info.words(SMALL.lanes) * 4
    pmu = next(i for i, (kind, _) in enumerate(SMALL.units()) if kind == UnitKind.PMU)
    model = PMUModel(SMALL.pmu_params())
    checked = 0
    for kernel in compiled.kernels:
        if "gemm_chunk" not in kernel.name:
            continue
        (config,) = _pmu_configs(kernel.image, pmu)
        reads = [s for s in kernel.streams if s.direction == READ]
        # A first in a tile row's first kernel, B after it (ordered): beats in that order
        assert [r.buffer for r in reads] in (["a.A", "b.B"], ["b.B"]), kernel.name
        assert [r.ordered for r in reads] == ([False, True] if len(reads) == 2 else [False])
        beats = []
        for read in reads:
            source = buffers[read.buffer].reshape(-1)
            beats += [source[(a - addresses[read.buffer]) // 4:][:SMALL.lanes]
                      for a in pattern_addresses(read.descriptor(addresses, beat), beat)]
        out = model.run(config, np.array(beats, np.uint64)).vec_out
        ti, tj, last, chunk = (int(v) for v in re.search(
            r"tile \((\d+), (\d+)\.\.(\d+)\) chunk (\d+)$", kernel.name).groups())
        count = last - tj + 1
        want = packed[chunk, ti, tj:tj + count].reshape(-1, SMALL.lanes)
        assert np.array_equal(out, want), kernel.name
        checked += count
    assert checked == plan.chunks * plan.tile_rows * plan.tile_cols
