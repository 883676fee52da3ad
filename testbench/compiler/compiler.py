"""The kernel compiler: graph -> primitives -> groups -> placed units -> kernels.

``compile_graph(graph, config, mode)`` returns a :class:`CompiledGraph`: the
buffers every tensor needs in device memory (and how the host fills the inputs;
which of them hold weights only), and one :class:`~.kernel.Kernel` per launch, in
order. :func:`~.lowering.lower` makes the primitives, :func:`~.placement.group_prims`
cuts them into groups (as :data:`MODES` says), and the kernel family of each group's
first primitive builds its kernels (the table :data:`~.kernels.BUILDERS`; e.g. a GEMM
chunk is one kernel per batch of tile columns that streams the B halves into a PMU,
the A halves of the tile row first in its first batch, and runs the systolic PCU:
:mod:`.kernels.gemm`).
Every resource is checked here, before anything is simulated, and a shortfall
raises :class:`CompileError` naming the op and the resource.
"""

from dataclasses import dataclass

from hdl.agcu.arguments import WRITE
from hdl.rdu.config import RDUParams
from testbench.runtime.memory_map import tensor_region

from .errors import CompileError
from .graph import Graph
from .kernel import Kernel, Stream
from .kernels import BUILDERS, KernelContext
from .kernels.slots import TAIL_OPS
from .lowering import lower
from .placement import group_prims

__all__ = ["MODES", "TAIL_OPS", "CompiledGraph", "compile_graph"]

# unfused: one primitive per kernel group; fused: chains of primitives on PCU pipelines;
# spatial: fused, plus a PMU between two PCUs of a pipeline (a GEMM into its row
# reduction) and a chain that makes a GEMM's A operand in the GEMM's kernel, where the
# group fits the RDU; elsewhere it cuts where fused does (placement.py)
MODES = ("unfused", "fused", "spatial")
# Beats one pipeline kernel streams in from device memory. The AGCU reserves read-buffer
# room for a burst before requesting it, so a kernel that emits while it reads no
# longer holds the memory against its own writes (that deadlocked at ~59 beats); the
# bound that remains keeps one kernel's counters and seq numbers in range. (Read when
# compile_graph runs, so a test may lower it.)
MAX_STREAMED_BEATS = 4096


@dataclass
class CompiledGraph:
    """What the host needs to run a graph: buffers, kernels in launch order.

    ``weight_buffers``: the buffers the host fills from weight inputs alone
    (``Graph.input(..., weight=True)``): a GEMM's ``<b>.B`` (or ``<a>.A``) buffer of a
    weight, an fp32 weight's own buffer. No kernel writes them, so they can be written
    once and stay in device memory across runs (see :func:`~.execute.stage_buffers`).
    """

    graph: Graph
    config: RDUParams
    mode: str
    infos: dict            # tensor name -> TensorInfo (only tensors with a buffer)
    kernels: list          # Kernel, in launch order
    groups: list           # the primitive groups, one per kernel family (for reports)
    weight_buffers: frozenset = frozenset()

    @property
    def beat_bytes(self) -> int:
        return self.config.vector_bits // 8

    def bytes_moved(self) -> int:
        return sum(k.bytes_moved(self.beat_bytes) for k in self.kernels)


def compile_graph(graph: Graph, config: RDUParams, mode: str = "unfused") -> CompiledGraph:
    """Kernels and buffers for ``graph`` on ``config``; CompileError before any simulation."""
    if mode not in MODES:
        raise CompileError(f"unknown mode {mode!r}; modes: {', '.join(MODES)}")
    if not graph.outputs:
        raise CompileError("the graph has no outputs")
    lanes = config.lanes
    prims, infos = lower(graph, lanes, config.pmu_depth, mode != "unfused")
    context = KernelContext(config, infos, BUILDERS, MAX_STREAMED_BEATS)
    # spatial: a join only spatial mode makes is made if the group's kernels fit the RDU
    groups = group_prims(prims, set(graph.outputs), mode, config.stages, context.fits)
    kernels = [kernel for group in groups for kernel in context.group(group)]
    # Buffers in order of first use (deterministic addresses), then outputs no kernel wrote.
    buffered = [name for k in kernels for s in k.streams
                for name in (s.buffer, *(x for x in s.strides if isinstance(x, str)))]
    used = {name: infos[name] for name in [*buffered, *graph.outputs]}
    for kernel in kernels:  # writes may cover slack rows: the buffer grows to hold them
        for stream in kernel.streams:
            if stream.direction == WRITE:
                info = used[stream.buffer]
                row_beats = info.words(lanes) // lanes // info.rows_alloc
                info.rows_alloc = max(info.rows_alloc, -(-(_last_beat(stream) + 1) // row_beats))
    for kernel in kernels:
        for stream in kernel.streams:
            _check_in_bounds(kernel, stream, used, lanes)
    _check_device_memory(config, used)
    return CompiledGraph(graph, config, mode, used, kernels, groups,
                         _weight_buffers(graph, used))


def _weight_buffers(graph: Graph, infos: dict) -> frozenset:
    names = set()
    for name, info in infos.items():
        if info.operand is not None:
            source = info.operand[2]
        elif name in graph.inputs and info.fill is None:  # read by a kernel as it is
            source = name
        else:
            continue
        if source in graph.weights:
            names.add(name)
    return frozenset(names)


def _last_beat(stream: Stream) -> int:
    """The highest beat index of ``stream`` in its buffer (strides are non-negative)."""
    return stream.offset + sum((b - 1) * st for b, st in zip(
        stream.bounds, stream.strides, strict=True) if isinstance(st, int) and st > 0)


def _check_in_bounds(kernel: Kernel, stream: Stream, infos: dict, lanes: int) -> None:
    """Every beat a stream touches lies inside its buffer (a compiler invariant)."""
    last = _last_beat(stream)
    buffers = [stream.buffer, *(st for st in stream.strides if isinstance(st, str))]
    for name in buffers:
        beats = infos[name].words(lanes) // lanes
        if last >= beats:
            raise CompileError(f"{kernel.name}: internal error, stream beat {last} is past the "
                               f"{beats} beats of buffer {name}")


def _check_device_memory(config: RDUParams, infos: dict) -> None:
    beat = config.vector_bits // 8
    _, size = tensor_region(config.memory_bytes)
    total = 0
    for name, info in infos.items():
        total += -(-info.words(config.lanes) * 4 // beat) * beat
        if total > size:
            raise CompileError(f"tensor {name}: device memory overflow, the kernels' buffers "
                               f"need more than the {size} bytes of the tensor region")
