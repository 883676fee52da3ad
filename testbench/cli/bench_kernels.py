"""Benchmark of compiled kernels: fused vs unfused, hardware vs software orchestration.

Two workloads on the ``tile2x2`` RDU (2 PCUs, 2 PMUs; 256 KiB of device memory so
every variant's buffers fit side by side), every variant compiled from
the same graph and run in one simulation (the host's AXI channels never pause),
each output checked bit for bit against the golden model:

* ``decode``: the Llama-style decoder layer (testbench/compiler/transformer.py)
  decoding one token, ``DECODE_SHAPE``; unfused and fused, each software- and
  hardware-orchestrated.
* ``prefill``: prefill-like work, the layer's feed-forward half over ``PREFILL_TOKENS``
  tokens (``out = x + bf16(silu(xn @ w1) * (xn @ w3)) @ w2``, ``xn = bf16(rmsnorm(x))``);
  unfused and fused, software-orchestrated.

Measured per variant: ``cycles`` (host cycles from the first launch to the last
kernel's end: program loads, launches and the kernels), ``kernel_cycles`` (software
orchestration: the sum of the AGCU's kernel cycles, so ``cycles - kernel_cycles`` is
what loading and launching cost), ``launches`` and ``bytes_moved`` (AGCU stream bytes
to and from device memory). Ratios: unfused / fused of each, and software /
hardware cycles; ``overhead_cycles_per_launch``: per variant, the cycles per launch
spent outside the kernels (see :func:`_overheads`), what fusion (fewer launches) and
hardware orchestration (no host round trip per launch) save.
"""

import numpy as np

from hdl.rdu.config import rdu_params
from testbench.compiler import (
    BF16,
    Graph,
    collect_run,
    compile_graph,
    enqueue_run,
    evaluate,
    stage_buffers,
)
from testbench.compiler.library import random_inputs, rmsnorm
from testbench.compiler.transformer import DecoderShape, decoder_graph, derived_inputs
from testbench.runtime.host_script import HostScript

PRESET = "tile2x2"
DECODE_SHAPE = DecoderShape(d_model=16, heads=2, head_dim=8, d_ff=32, tokens=16)
PREFILL_TOKENS = 16
MEMORY_BYTES = 1 << 18  # every variant's buffers side by side in one simulation
DECODE_VARIANTS = (("unfused", "software"), ("fused", "software"), ("unfused", "hardware"),
                   ("fused", "hardware"))
PREFILL_VARIANTS = (("unfused", "software"), ("fused", "software"))


def prefill_graph(tokens: int, d_model: int, d_ff: int) -> Graph:
    """The decoder layer's feed-forward half over ``tokens`` rows."""
    g = Graph()
    x = g.input("x", (tokens, d_model))
    hn = g.to_bf16(rmsnorm(g, x, g.input("ffn_norm", (1, d_model), weight=True), "norm"), "hn")
    gate = g.silu(g.gemm(hn, g.input("w1", (d_model, d_ff), BF16, weight=True), "h1"), "gate")
    up = g.gemm(hn, g.input("w3", (d_model, d_ff), BF16, weight=True), "h3")
    act = g.to_bf16(g.mul(gate, up, "act"), "act_b")
    g.output(g.add(x, g.gemm(act, g.input("w2", (d_ff, d_model), BF16, weight=True), "down"),
                   "out"))
    return g


def _workloads():
    rng = np.random.default_rng(7)
    decode = decoder_graph(DECODE_SHAPE)
    decode_inputs = derived_inputs(decode, random_inputs(decode, rng, 0.0), DECODE_SHAPE)
    prefill = prefill_graph(PREFILL_TOKENS, DECODE_SHAPE.d_model, DECODE_SHAPE.d_ff)
    return {"decode": (decode, decode_inputs, DECODE_VARIANTS),
            "prefill": (prefill, random_inputs(prefill, rng, 0.0), PREFILL_VARIANTS)}


def measure(log) -> dict:
    """Run every variant of both workloads in one simulation; per workload, its variants'
    figures (key ``<mode>/<orchestration>``) and ratios."""
    config = rdu_params(PRESET, memory_bytes=MEMORY_BYTES)
    script = HostScript(config)
    workloads = _workloads()
    runs = []
    for workload, (graph, inputs, variants) in workloads.items():
        for mode, orchestration in variants:
            compiled = compile_graph(graph, config, mode)
            tag = f"{workload}.{mode}.{orchestration}."
            addresses = stage_buffers(compiled, script, inputs, what=tag)
            enqueue_run(compiled, script, addresses, orchestration=orchestration, tag=tag)
            runs.append((workload, mode, orchestration, compiled, tag))
    log(f"kernels: {len(runs)} runs of the decoder layer and the prefill-like block on "
        f"the {PRESET} RDU, one simulation")
    result = script.run(run_name="bench_kernels", seed=1, timeout_cycles=400_000)
    data = {}
    for workload, mode, orchestration, compiled, tag in runs:
        report = collect_run(compiled, result, orchestration=orchestration, tag=tag)
        data.setdefault(workload, {"variants": {}})["variants"][f"{mode}/{orchestration}"] = {
            "cycles": report.cycles, "kernel_cycles": report.kernel_cycles,
            "launches": report.launches, "bytes_moved": report.bytes_moved,
            "outputs": report.outputs}
    for workload, (graph, inputs, _) in workloads.items():
        want = evaluate(graph, inputs, config.lanes, config.pmu_depth)
        for name, figures in data[workload]["variants"].items():
            outputs = figures.pop("outputs")
            bad = [out for out in graph.outputs if not np.array_equal(outputs[out], want[out])]
            if bad:
                raise AssertionError(f"bench kernels: {workload} {name}: {bad} differ from "
                                     f"the golden model")
            figures["bit_exact"] = True
        data[workload]["ratios"] = _ratios(data[workload]["variants"])
        data[workload]["overhead_cycles_per_launch"] = _overheads(data[workload]["variants"])
    return data


def _overheads(variants: dict) -> dict:
    """Cycles per launch outside the kernels: software orchestration's ``cycles -
    kernel_cycles`` (program load, the host's writes and polls) and hardware
    orchestration's ``cycles`` less the same mode's software kernel cycles."""
    overheads = {}
    for name, f in variants.items():
        mode, orchestration = name.split("/")
        kernel = variants.get(f"{mode}/software", {}).get("kernel_cycles")
        if kernel:
            overheads[name] = round((f["cycles"] - kernel) / f["launches"], 1)
    return overheads


def _ratios(variants: dict) -> dict:
    ratios = {}
    for orchestration in ("software", "hardware"):
        unfused, fused = (variants.get(f"{m}/{orchestration}") for m in ("unfused", "fused"))
        if unfused and fused:
            ratios[f"unfused_over_fused/{orchestration}"] = {
                key: round(unfused[key] / fused[key], 3)
                for key in ("cycles", "launches", "bytes_moved")}
    for mode in ("unfused", "fused"):
        software, hardware = (variants.get(f"{mode}/{o}") for o in ("software", "hardware"))
        if software and hardware:
            ratios[f"software_over_hardware/{mode}"] = round(
                software["cycles"] / hardware["cycles"], 3)
    return ratios


def _text(data: dict) -> str:
    shape = DECODE_SHAPE
    lines = [f"kernels on the {PRESET} RDU (2 PCUs, 2 PMUs); every output bit-exact",
             f"  decode: decoder layer, one token, d_model {shape.d_model}, {shape.heads} "
             f"heads x {shape.head_dim}, d_ff {shape.d_ff}, {shape.tokens} cached tokens",
             f"  prefill: feed-forward half over {PREFILL_TOKENS} tokens",
             f"  {'workload':9}{'variant':20}{'cycles':>9}{'kernel':>9}{'launches':>10}"
             f"{'bytes':>9}"]
    for workload, entry in data.items():
        for name, f in entry["variants"].items():
            kernel = f["kernel_cycles"] or "-"
            lines.append(f"  {workload:9}{name:20}{f['cycles']:>9}{kernel:>9}"
                         f"{f['launches']:>10}{f['bytes_moved']:>9}")
        for name, value in entry["ratios"].items():
            if isinstance(value, dict):
                value = ", ".join(f"{key} {v:.2f}x" for key, v in value.items())
            else:
                value = f"cycles {value:.2f}x"
            lines.append(f"  {workload}: {name}: {value}")
        overheads = ", ".join(f"{name} {value:.0f}" for name, value in
                              entry["overhead_cycles_per_launch"].items())
        lines.append(f"  {workload}: cycles per launch outside the kernels: {overheads}")
    return "\n".join(lines)


def run_bench(log) -> tuple[dict, str]:
    data = measure(log)
    return data, _text(data)
