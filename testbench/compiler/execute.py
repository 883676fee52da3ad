"""Run a :class:`~.compiler.CompiledGraph` on the RDU top through a runtime session.

The host writes every input buffer (graph inputs padded as the compiler chose,
GEMM operands packed, ``-inf``-filled scratch), allocates the others, launches
the kernels (one by one from the host, ``software``, or as one AGCU schedule,
``hardware``), and reads the graph's outputs back.
"""

from dataclasses import dataclass

import numpy as np

from testbench.runtime.session import Session

from .compiler import CompiledGraph
from .graph import BF16
from .layout import pack, padded_cols, unpack

__all__ = ["ORCHESTRATIONS", "RunReport", "buffer_contents", "run_compiled"]

ORCHESTRATIONS = ("software", "hardware")


@dataclass
class RunReport:
    """Outputs (logical arrays) and the figures of one run."""

    outputs: dict
    cycles: int            # host cycles from the first launch to the last kernel's end
    kernel_cycles: int     # sum of the AGCU's kernel cycles (software orchestration), else 0
    launches: int
    bytes_moved: int       # AGCU stream bytes between device memory and the tile


def buffer_contents(compiled: CompiledGraph, name: str, inputs: dict) -> np.ndarray | None:
    """What the host writes into buffer ``name`` before the first kernel (None: nothing)."""
    info, lanes = compiled.infos[name], compiled.config.lanes
    if info.gemm is not None:
        plan, (a, b) = info.gemm
        return plan.pack(np.asarray(inputs[a]).view(np.uint16).reshape(plan.m, plan.k),
                         np.asarray(inputs[b]).view(np.uint16).reshape(plan.k, plan.n))
    if info.fill is not None:
        return np.full(info.words(lanes), np.uint32(info.fill), np.uint32)
    if name in compiled.graph.inputs:
        if info.dtype == BF16:
            return None  # only GEMM reads bf16 inputs, through its packed operands
        words = np.asarray(inputs[name]).view(np.uint32).reshape(info.shape)
        packed = pack(words, info.pad or 0, lanes)
        slack = np.zeros((info.rows_alloc - info.shape[0], packed.shape[1]), np.uint32)
        return np.concatenate([packed, slack])
    return None


def run_compiled(compiled: CompiledGraph, inputs: dict, *, orchestration: str = "software",
                 run_name: str, seed: int = 1, waves: bool = False,
                 timeout_cycles: int = 50_000, host_stall: float = 0.0) -> RunReport:
    """Simulate ``compiled`` on ``inputs`` in one Verilator run. ``host_stall``: probability
    that each of the host port's AXI channels pauses in a cycle (seeded by ``seed``); the
    runtime's per-command timeout (``timeout_cycles``) is the watchdog."""
    if orchestration not in ORCHESTRATIONS:
        raise ValueError(f"orchestration must be one of {ORCHESTRATIONS}, not {orchestration!r}")
    config, lanes = compiled.config, compiled.config.lanes
    session = Session(config)
    addresses = {}
    for name, info in compiled.infos.items():
        contents = buffer_contents(compiled, name, inputs)
        if contents is None:
            addresses[name] = session.allocate(info.words(lanes) * 4, name)
        else:
            addresses[name] = session.write(contents, name)
    beat = compiled.beat_bytes
    arguments = [k.arguments(addresses, beat) for k in compiled.kernels]
    if orchestration == "software":
        for i, (kernel, args) in enumerate(zip(compiled.kernels, arguments, strict=True)):
            session.load(kernel.image)
            session.launch(args, f"k{i}")
    else:
        session.schedule([(k.image, args) for k, args in
                          zip(compiled.kernels, arguments, strict=True)], "schedule")
    for name in compiled.graph.outputs:
        info = compiled.infos[name]
        session.read(name, addresses[name], info.shape[0] * padded_cols(info.shape[1], lanes))
    result = session.run(run_name=run_name, seed=seed, waves=waves,
                         timeout_cycles=timeout_cycles, host_stall=host_stall)
    outputs = {}
    for name in compiled.graph.outputs:
        info = compiled.infos[name]
        words = unpack(result[name], info.shape, lanes)
        outputs[name] = words.astype(np.uint16) if info.dtype == BF16 else words
    if orchestration == "software":
        last = len(compiled.kernels) - 1
        cycles = int(result[f"k{last}_window"][1] - result["k0_window"][0])
        kernel_cycles = sum(int(result[f"k{i}_cycles"][1]) for i in range(last + 1))
    else:
        cycles = int(result["schedule_window"][1] - result["schedule_window"][0])
        kernel_cycles = 0
    return RunReport(outputs, cycles, kernel_cycles, len(compiled.kernels),
                     compiled.bytes_moved())
