"""Run a :class:`~.compiler.CompiledGraph` on the RDU top through a runtime script.

The host writes every input buffer (graph inputs padded as the compiler chose,
GEMM operands in their A and B layouts, ``-inf``-filled scratch, column masks of
repadded tensors), allocates the
others, launches the kernels (one by one from the host, ``software``, or as one
AGCU schedule, ``hardware``), and reads the graph's outputs back.

Resident weights: :func:`host_buffers` gives the host-side contents of buffers
(``compiled.weight_buffers`` depend on weight inputs alone). A caller that keeps
weights in device memory writes those once (``script.write``) and passes their
addresses as ``resident`` to :func:`stage_buffers` for every run; then
:func:`enqueue_run` launches the kernels and reads the outputs, and
:func:`collect_run` turns the simulation's results into a :class:`RunReport`.
:func:`run_compiled` does all of it for one run in one simulation.
"""

from dataclasses import dataclass

import numpy as np

from testbench.runtime.host_script import HostScript

from .compiler import CompiledGraph
from .graph import BF16
from .layout import pack, padded_cols, unpack

__all__ = ["ORCHESTRATIONS", "RunReport", "buffer_contents", "collect_outputs", "collect_run",
           "enqueue_run", "host_buffers", "read_outputs", "run_compiled", "stage_buffers"]

ORCHESTRATIONS = ("software", "hardware")


@dataclass
class RunReport:
    """Outputs (logical arrays) and the figures of one run."""

    outputs: dict
    cycles: int            # host cycles from the first launch to the last kernel's end
    kernel_cycles: int     # sum of the AGCU's kernel cycles (software orchestration), else 0
    launches: int
    bytes_moved: int       # AGCU stream bytes between device memory and the tile
    # per unit (busy, stalled on input, stalled on output) cycles during the run: the
    # performance counters read before the first launch and after the last kernel
    unit_cycles: np.ndarray | None = None

    def utilisation(self) -> np.ndarray:
        """Per unit, the share of the run's cycles it was busy."""
        return self.unit_cycles[:, 0] / max(1, self.cycles)


def buffer_contents(compiled: CompiledGraph, name: str, inputs: dict) -> np.ndarray | None:
    """What the host writes into buffer ``name`` before the first kernel (None: nothing).

    ``inputs`` needs only the graph inputs this buffer is made from."""
    info, lanes = compiled.infos[name], compiled.config.lanes
    if info.operand is not None:
        side, plan, source = info.operand
        value = np.asarray(inputs[source]).view(np.uint16)
        if side == "a":
            return plan.a_layout(value.reshape(plan.m, plan.k))
        return plan.b_layout(value.reshape(plan.k, plan.n))
    if info.fill is not None:
        return np.full(info.words(lanes), np.uint32(info.fill), np.uint32)
    if info.mask:  # 1 in the real columns, 0 in the padding (a repad's select mask)
        words = np.zeros((info.rows_alloc, padded_cols(info.shape[1], lanes)), np.uint32)
        words[:, :info.shape[1]] = 1
        return words
    if name in compiled.graph.inputs:
        if info.dtype == BF16:  # zero-extended, as to_bf16 writes bf16 values
            words = np.asarray(inputs[name]).view(np.uint16).reshape(info.shape)
            words = words.astype(np.uint32)
        else:
            words = np.asarray(inputs[name]).view(np.uint32).reshape(info.shape)
        packed = pack(words, info.pad or 0, lanes)
        slack = np.zeros((info.rows_alloc - info.shape[0], packed.shape[1]), np.uint32)
        return np.concatenate([packed, slack])
    return None


def host_buffers(compiled: CompiledGraph, inputs: dict, names=None) -> dict:
    """``{buffer: contents}`` of every buffer in ``names`` (default: all) the host writes.

    ``host_buffers(compiled, weights, compiled.weight_buffers)`` needs only the weight
    inputs: the weight buffers' contents, to write once and keep resident."""
    names = compiled.infos if names is None else names
    contents = {name: buffer_contents(compiled, name, inputs) for name in names}
    return {name: value for name, value in contents.items() if value is not None}


def stage_buffers(compiled: CompiledGraph, script: HostScript, inputs: dict,
                  resident: dict | None = None, what: str = "") -> dict:
    """Write or allocate every buffer of ``compiled`` in ``script``; return their addresses.

    ``resident``: ``{buffer: address}`` of buffers already in device memory (weight
    buffers written earlier); they are neither written nor allocated, and ``inputs``
    need not hold the inputs they are made from. ``what`` prefixes the allocation names."""
    resident = dict(resident or {})
    unknown = sorted(set(resident) - set(compiled.infos))
    if unknown:
        raise ValueError(f"resident buffers {unknown} are not buffers of this graph")
    written = sorted(set(resident) - compiled.weight_buffers)
    if written:
        raise ValueError(f"resident buffers {written} are not weight buffers; a run writes "
                         f"or fills them")
    lanes = compiled.config.lanes
    addresses = {}
    for name, info in compiled.infos.items():
        if name in resident:
            addresses[name] = resident[name]
            continue
        contents = buffer_contents(compiled, name, inputs)
        if contents is None:
            addresses[name] = script.allocate(info.words(lanes) * 4, what + name)
        else:
            addresses[name] = script.write(contents, what + name)
    return addresses


def enqueue_run(compiled: CompiledGraph, script: HostScript, addresses: dict, *,
                orchestration: str = "software", tag: str = "") -> None:
    """Launch every kernel on the buffers at ``addresses`` and read the outputs back; the
    script's results are named ``tag`` + output / launch name (see :func:`collect_run`)."""
    if orchestration not in ORCHESTRATIONS:
        raise ValueError(f"orchestration must be one of {ORCHESTRATIONS}, not {orchestration!r}")
    beat = compiled.beat_bytes
    arguments = [k.arguments(addresses, beat) for k in compiled.kernels]
    script.counters(f"{tag}counters_before")
    if orchestration == "software":
        for i, (kernel, args) in enumerate(zip(compiled.kernels, arguments, strict=True)):
            script.load(kernel.image)
            script.launch(args, f"{tag}k{i}")
    else:
        script.schedule([(k.image, args) for k, args in
                          zip(compiled.kernels, arguments, strict=True)], f"{tag}schedule")
    script.counters(f"{tag}counters_after")
    read_outputs(compiled, script, addresses, tag)


def read_outputs(compiled: CompiledGraph, script: HostScript, addresses: dict,
                 tag: str = "") -> None:
    """Queue the reads of every graph output, named ``tag`` + output."""
    lanes = compiled.config.lanes
    for name in compiled.graph.outputs:
        info = compiled.infos[name]
        script.read(tag + name, addresses[name],
                     info.shape[0] * padded_cols(info.shape[1], lanes))


def collect_outputs(compiled: CompiledGraph, result: dict, tag: str = "") -> dict:
    """``{output: words}`` that :func:`read_outputs` read with ``tag`` (uint16 for bf16)."""
    outputs = {}
    for name in compiled.graph.outputs:
        info = compiled.infos[name]
        words = unpack(result[tag + name], info.shape, compiled.config.lanes)
        outputs[name] = words.astype(np.uint16) if info.dtype == BF16 else words
    return outputs


def collect_run(compiled: CompiledGraph, result: dict, *, orchestration: str = "software",
                tag: str = "") -> RunReport:
    """The :class:`RunReport` of the run :func:`enqueue_run` queued with ``tag``."""
    outputs = collect_outputs(compiled, result, tag)
    if orchestration == "software":
        last = len(compiled.kernels) - 1
        cycles = result.cycles(f"{tag}k0", f"{tag}k{last}")
        kernel_cycles = sum(result.launch(f"{tag}k{i}").kernel for i in range(last + 1))
    else:
        cycles = result.cycles(f"{tag}schedule")
        kernel_cycles = 0
    unit_cycles = (np.asarray(result[f"{tag}counters_after"], np.int64)
                   - np.asarray(result[f"{tag}counters_before"], np.int64))
    return RunReport(outputs, cycles, kernel_cycles, len(compiled.kernels),
                     compiled.bytes_moved(), unit_cycles)


def run_compiled(compiled: CompiledGraph, inputs: dict, *, orchestration: str = "software",
                 run_name: str, seed: int = 1, waves: bool = False,
                 timeout_cycles: int = 50_000, host_stall: float = 0.0) -> RunReport:
    """Simulate ``compiled`` on ``inputs`` in one Verilator run. ``host_stall``: probability
    that each of the host port's AXI channels pauses in a cycle (seeded by ``seed``); the
    runtime's per-command timeout (``timeout_cycles``) is the watchdog."""
    if orchestration not in ORCHESTRATIONS:
        raise ValueError(f"orchestration must be one of {ORCHESTRATIONS}, not {orchestration!r}")
    script = HostScript(compiled.config)
    addresses = stage_buffers(compiled, script, inputs)
    enqueue_run(compiled, script, addresses, orchestration=orchestration)
    result = script.run(run_name=run_name, seed=seed, waves=waves,
                         timeout_cycles=timeout_cycles, host_stall=host_stall)
    return collect_run(compiled, result, orchestration=orchestration)
