"""Benchmark of compiled kernels: unfused, fused and spatial, hardware vs software orchestration.

Two workloads on the ``tile2x2`` RDU (2 PCUs, 2 PMUs; 256 KiB of device memory, a
quarter of it the runtime's command region for programs and argument blocks), every
variant compiled from the same graph and run in one simulation (the host's AXI
channels never pause), one variant after the other (each reuses the tensor buffers'
memory of the one before, whose outputs the host has read by then), each output
checked bit for bit against the golden model:

* ``decode``: the Llama-style decoder layer (testbench/compiler/transformer.py)
  decoding one token, ``DECODE_SHAPE``.
* ``prefill``: prefill-like work, the layer's feed-forward half over ``PREFILL_TOKENS``
  tokens (``out = x + bf16(silu(xn @ w1) * (xn @ w3)) @ w2``, ``xn = bf16(rmsnorm(x))``).

Each workload in every compiler mode (``unfused``, ``fused``, ``spatial``), each
software- and hardware-orchestrated (``<mode>/<orchestration>``). A mode that refuses
a workload (CompileError) is listed under ``refused`` with the compiler's message.

Measured per variant: ``cycles`` (host cycles from the first launch to the last
kernel's end: program loads, launches and the kernels), ``kernel_cycles`` (software
orchestration: the sum of the AGCU's kernel cycles, so ``cycles - kernel_cycles`` is
what loading and launching cost), ``launches`` and ``bytes_moved`` (AGCU stream bytes
to and from device memory). Ratios: unfused / fused and unfused / spatial of each, per
orchestration, and software / hardware cycles per mode; ``overhead_cycles_per_launch``:
per variant, the cycles per launch spent outside the kernels (see :func:`_overheads`),
what fusion (fewer launches) and hardware orchestration (no host round trip per
launch) save. ``roofline``: per variant, measured cycles beside the cycles
:mod:`testbench.compiler.roofline` predicts from its launches, bytes and FLOPs (that
module's docstring says how to read them); ``--plot FILE`` draws them.
"""

import warnings
from pathlib import Path

import numpy as np

from hdl.rdu.config import RDUParams, peak_flops_per_cycle, rdu_params
from testbench.compiler import (
    BF16,
    MODES,
    ORCHESTRATIONS,
    CompileError,
    Graph,
    collect_run,
    compile_graph,
    enqueue_run,
    evaluate,
    stage_buffers,
)
from testbench.compiler.library import random_inputs, rmsnorm
from testbench.compiler.roofline import graph_flops, memory_bytes_per_cycle, predict
from testbench.compiler.transformer import DecoderShape, decoder_graph, derived_inputs
from testbench.runtime.host_script import HostScript

PRESET = "tile2x2"
DECODE_SHAPE = DecoderShape(d_model=16, heads=2, head_dim=8, d_ff=32, tokens=16)
PREFILL_TOKENS = 16
MEMORY_BYTES = 1 << 18
VARIANTS = tuple((mode, orchestration) for orchestration in ORCHESTRATIONS for mode in MODES)
DECODE_VARIANTS = VARIANTS
PREFILL_VARIANTS = VARIANTS
#: the plot's segments, bottom to top: the prediction's terms (the overlapped part of
#: memory and compute once, then what either takes beyond the other), then the rest
PLOT_SEGMENTS = (("launch", "launch overhead", "tab:blue"),
                 ("overlapped", "memory and compute, overlapped", "tab:purple"),
                 ("memory_only", "memory beyond compute", "tab:orange"),
                 ("compute_only", "compute beyond memory", "tab:green"),
                 ("unmodelled", "measured beyond the model", "lightgrey"))


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


def compile_variants(workloads: dict, config: RDUParams) -> tuple[list, dict]:
    """Compile every workload's variants: ``(runs, refused)``, ``runs`` a list of
    ``(workload, mode, orchestration, compiled)``, ``refused`` ``{workload: {variant:
    message}}`` for the modes that raised CompileError (every workload has an entry)."""
    runs, refused = [], {}
    for workload, (graph, _, variants) in workloads.items():
        refused[workload] = {}
        compiled_by_mode = {}
        for mode, orchestration in variants:
            if mode not in compiled_by_mode:
                try:
                    compiled_by_mode[mode] = compile_graph(graph, config, mode)
                except CompileError as error:
                    compiled_by_mode[mode] = error
            compiled = compiled_by_mode[mode]
            if isinstance(compiled, CompileError):
                refused[workload][f"{mode}/{orchestration}"] = str(compiled)
            else:
                runs.append((workload, mode, orchestration, compiled))
    return runs, refused


def measure(log) -> dict:
    """Run every variant of both workloads in one simulation; per workload, its variants'
    figures (key ``<mode>/<orchestration>``), refusals and ratios; ``roofline``: the
    model's table (:func:`roofline_table`)."""
    config = rdu_params(PRESET, memory_bytes=MEMORY_BYTES)
    script = HostScript(config)
    workloads = _workloads()
    runs, refused = compile_variants(workloads, config)
    tagged = []
    for workload, mode, orchestration, compiled in runs:
        tag = f"{workload}.{mode}.{orchestration}."
        inputs = workloads[workload][1]
        mark = script.tensors.mark()
        addresses = stage_buffers(compiled, script, inputs, what=tag)
        enqueue_run(compiled, script, addresses, orchestration=orchestration, tag=tag)
        # steps run in order: this run's outputs are read before the next one's writes
        script.tensors.release(mark)
        tagged.append((workload, mode, orchestration, compiled, tag))
    refusals = sum(len(names) for names in refused.values())
    log(f"kernels: {len(runs)} runs of the decoder layer and the prefill-like block on "
        f"the {PRESET} RDU, one simulation ({refusals} variants refused by the compiler)")
    result = script.run(run_name="bench_kernels", seed=1, timeout_cycles=400_000)
    data = {workload: {"variants": {}, "refused": refused[workload]} for workload in workloads}
    for workload, mode, orchestration, compiled, tag in tagged:
        report = collect_run(compiled, result, orchestration=orchestration, tag=tag)
        data[workload]["variants"][f"{mode}/{orchestration}"] = {
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
    flops = {workload: graph_flops(graph) for workload, (graph, _, _) in workloads.items()}
    data["roofline"] = roofline_table(data, flops, memory_bytes_per_cycle(config),
                                      peak_flops_per_cycle(config))
    return data


def _workload_names(data: dict) -> list[str]:
    return [name for name in data if name != "roofline"]


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
    """unfused / fused and unfused / spatial (cycles, launches, bytes_moved) per
    orchestration; software / hardware cycles per mode; only for variants both measured."""
    ratios = {}
    for orchestration in ORCHESTRATIONS:
        unfused = variants.get(f"unfused/{orchestration}")
        for mode in ("fused", "spatial"):
            other = variants.get(f"{mode}/{orchestration}")
            if unfused and other:
                ratios[f"unfused_over_{mode}/{orchestration}"] = {
                    key: round(unfused[key] / other[key], 3)
                    for key in ("cycles", "launches", "bytes_moved")}
    for mode in MODES:
        software, hardware = (variants.get(f"{mode}/{o}") for o in ORCHESTRATIONS)
        if software and hardware:
            ratios[f"software_over_hardware/{mode}"] = round(
                software["cycles"] / hardware["cycles"], 3)
    return ratios


def launch_overheads(data: dict) -> dict:
    """Per orchestration, the cycles per launch outside the kernels over every workload's
    variants of it, weighted by their launches (the roofline's launch term)."""
    overheads = {}
    for orchestration in ORCHESTRATIONS:
        cycles = launches = 0
        for workload in _workload_names(data):
            entry = data[workload]
            for name, per_launch in entry["overhead_cycles_per_launch"].items():
                if name.endswith(f"/{orchestration}"):
                    cycles += per_launch * entry["variants"][name]["launches"]
                    launches += entry["variants"][name]["launches"]
        if launches:
            overheads[orchestration] = round(cycles / launches, 1)
    return overheads


def roofline_table(data: dict, flops: dict, bytes_per_cycle: float,
                   flops_per_cycle: float) -> dict:
    """The roofline model's parameters and, per measured variant, measured cycles beside
    the predicted launch, memory and compute cycles (``flops``: per workload)."""
    overheads = launch_overheads(data)
    rows = []
    for workload in _workload_names(data):
        for name, figures in data[workload]["variants"].items():
            orchestration = name.split("/")[1]
            if orchestration not in overheads:
                continue
            prediction = predict(figures["launches"], figures["bytes_moved"], flops[workload],
                                 overheads[orchestration], bytes_per_cycle, flops_per_cycle)
            measured, predicted = figures["cycles"], prediction.predicted_cycles
            rows.append({
                "workload": workload, "variant": name, "measured_cycles": measured,
                "launch_cycles": round(prediction.launch_cycles, 1),
                "memory_cycles": round(prediction.memory_cycles, 1),
                "compute_cycles": round(prediction.compute_cycles, 1),
                "predicted_cycles": round(predicted, 1), "bound": prediction.bound,
                "measured_over_predicted": round(measured / predicted, 3),
                "gap_cycles_per_launch": round((measured - predicted) / figures["launches"], 1)})
    return {"memory_bytes_per_cycle": bytes_per_cycle, "peak_flops_per_cycle": flops_per_cycle,
            "launch_overhead_cycles": overheads, "flops": dict(flops), "rows": rows}


def plot_segments(row: dict) -> dict:
    """The bar segments of one roofline row (:data:`PLOT_SEGMENTS`), in cycles; all but
    the last add up to the prediction, all of them to the measured cycles when the
    measurement is above the prediction."""
    memory, compute = row["memory_cycles"], row["compute_cycles"]
    return {"launch": row["launch_cycles"], "overlapped": min(memory, compute),
            "memory_only": max(0.0, memory - compute), "compute_only": max(0.0, compute - memory),
            "unmodelled": max(0.0, row["measured_cycles"] - row["predicted_cycles"])}


def plot_cycles(data: dict, path) -> Path:
    """A stacked bar per row of ``data["roofline"]`` (:func:`plot_segments`), a black
    tick at its measured cycles; written as PNG to ``path`` (matplotlib, Agg backend)."""
    with warnings.catch_warnings():
        # matplotlib 3.9 calls pyparsing 3.3 names that pyparsing now flags as deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        return _draw(plt, data["roofline"]["rows"], Path(path))


def _draw(plt, rows: list, path: Path) -> Path:
    positions = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.8 * len(rows) + 2), 4.5))
    bottom = np.zeros(len(rows))
    for key, label, colour in PLOT_SEGMENTS:
        heights = np.array([plot_segments(row)[key] for row in rows], dtype=float)
        ax.bar(positions, heights, 0.7, bottom=bottom, label=label, color=colour)
        bottom += heights
    ax.scatter(positions, [row["measured_cycles"] for row in rows], marker="_", s=400,
               color="black", label="measured", zorder=3)
    ax.set_xticks(positions, ["\n".join((row["workload"], *row["variant"].split("/")))
                              for row in rows], fontsize=7)
    ax.set_ylabel("cycles")
    ax.set_title(f"rdu bench kernels on {PRESET}: measured cycles and the roofline's terms")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _text(data: dict) -> str:
    shape = DECODE_SHAPE
    lines = [f"kernels on the {PRESET} RDU (2 PCUs, 2 PMUs); every output bit-exact",
             f"  decode: decoder layer, one token, d_model {shape.d_model}, {shape.heads} "
             f"heads x {shape.head_dim}, d_ff {shape.d_ff}, {shape.tokens} cached tokens",
             f"  prefill: feed-forward half over {PREFILL_TOKENS} tokens"]
    if not any(data[workload].get("refused") for workload in _workload_names(data)):
        lines.append(f"  every mode ({', '.join(MODES)}) compiled both workloads")
    lines.append(f"  {'workload':9}{'variant':20}{'cycles':>9}{'kernel':>9}{'launches':>10}"
                 f"{'bytes':>9}")
    for workload in _workload_names(data):
        entry = data[workload]
        for name, f in entry["variants"].items():
            kernel = f["kernel_cycles"] or "-"
            lines.append(f"  {workload:9}{name:20}{f['cycles']:>9}{kernel:>9}"
                         f"{f['launches']:>10}{f['bytes_moved']:>9}")
        for name, message in entry.get("refused", {}).items():
            lines.append(f"  {workload:9}{name:20} refused: {message}")
        for name, value in entry["ratios"].items():
            if isinstance(value, dict):
                value = ", ".join(f"{key} {v:.2f}x" for key, v in value.items())
            else:
                value = f"cycles {value:.2f}x"
            lines.append(f"  {workload}: {name}: {value}")
        overheads = ", ".join(f"{name} {value:.0f}" for name, value in
                              entry["overhead_cycles_per_launch"].items())
        lines.append(f"  {workload}: cycles per launch outside the kernels: {overheads}")
    if "roofline" in data:
        lines += _roofline_text(data["roofline"])
    return "\n".join(lines)


def _roofline_text(roofline: dict) -> list[str]:
    overheads = ", ".join(f"{name} {value:.0f}" for name, value in
                          roofline["launch_overhead_cycles"].items())
    flops = ", ".join(f"{name} {value}" for name, value in roofline["flops"].items())
    lines = ["roofline (testbench/compiler/roofline.py): predicted = launch + max(memory, "
             "compute)",
             f"  launch = launches x cycles per launch outside the kernels ({overheads}; "
             f"launch-weighted over the variants above)",
             f"  memory = bytes / {roofline['memory_bytes_per_cycle']:g} B per cycle, compute = "
             f"FLOPs / {roofline['peak_flops_per_cycle']:g} per cycle (FLOPs: {flops})",
             f"  {'workload':9}{'variant':20}{'measured':>9}{'launch':>9}{'memory':>9}"
             f"{'compute':>9}{'predicted':>10}{'meas/pred':>10}{'gap/launch':>11}"]
    for row in roofline["rows"]:
        lines.append(f"  {row['workload']:9}{row['variant']:20}{row['measured_cycles']:>9}"
                     f"{row['launch_cycles']:>9.0f}{row['memory_cycles']:>9.0f}"
                     f"{row['compute_cycles']:>9.0f}{row['predicted_cycles']:>10.0f}"
                     f"{row['measured_over_predicted']:>10.2f}"
                     f"{row['gap_cycles_per_launch']:>11.0f}")
    return lines


def run_bench(log, plot=None) -> tuple[dict, str]:
    """Measure (:func:`measure`); with ``plot``, also draw the roofline chart there."""
    data = measure(log)
    text = _text(data)
    if plot:
        text += f"\nplot: {plot_cycles(data, plot)}"
    return data, text
