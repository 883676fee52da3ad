"""The kernel compiler: graph -> primitives -> groups -> placed units -> kernels.

``compile_graph(graph, config, mode)`` returns a :class:`CompiledGraph`: the
buffers every tensor needs in device memory (and how the host fills the inputs;
which of them hold weights only), and one :class:`~.kernel.Kernel` per launch, in
order. A GEMM chunk is one kernel per batch of tile columns that streams the B
halves into a PMU (the A halves of the tile row first, in its first batch) and
runs the systolic PCU (see :meth:`_KernelBuilder._gemm`). Every resource is checked
here, before anything is simulated, and a shortfall raises :class:`CompileError`
naming the op and the resource.

Flows of a pipeline kernel: flow 0 AGCU -> first unit, flow i unit i-1 -> unit i,
the last flow back to the AGCU (scalar fabric after a reduction); a row-op kernel
adds one more, AGCU -> its PCU on the scalar fabric (``_row_op_streams``). Done
tokens: every unit of the kernel; a PCU (passes = 1) sends one, and so does a PMU, whose
token is its ``busy`` falling once after all of a configuration's passes.
"""

from dataclasses import dataclass, replace

from hdl.agcu.arguments import READ, WRITE
from hdl.rdu.config import RDUConfig, UnitKind
from pcu_pmu.pcu.config import (
    CounterConfig,
    Emit,
    Mode,
    PCUConfig,
    ReduceOp,
    Src,
    StageConfig,
    StageOp,
    TailOp,
)
from pcu_pmu.pmu.config import AddressGenConfig, PMUConfig, ReadLayout, WriteLayout
from testbench.runtime.memory_map import tensor_region
from testbench.runtime.program import AGCU, ProgramBuilder, ProgramError

from .errors import CompileError
from .graph import Graph
from .kernel import Kernel, Stream
from .layout import GemmPlan, beats_per_row
from .lowering import Prim, lower
from .placement import Slot, group_prims, pcu_slots

__all__ = ["MODES", "TAIL_OPS", "CompiledGraph", "compile_graph"]

MODES = ("unfused", "fused")
TAIL_OPS = {"exp": TailOp.EXP, "reciprocal": TailOp.RECIP, "rsqrt": TailOp.RSQRT,
            "silu": TailOp.SILU, "gelu": TailOp.GELU, "to_bf16": TailOp.BF16}
PAIR_STAGE_OPS = {"sub": StageOp.FSUB, "mul": StageOp.FMUL, "max": StageOp.FMAX,
                  "min": StageOp.FMIN}
ROW_STAGE_OPS = {"row_add": StageOp.FADD, "row_sub": StageOp.FSUB, "row_mul": StageOp.FMUL}
MAX_BOUND = 0xFFFF
# Beats one pipeline kernel streams in from device memory. The AGCU reserves read-buffer
# room for a burst before requesting it, so a kernel that emits while it reads no
# longer holds the memory against its own writes (that deadlocked at ~59 beats); the
# bound that remains keeps one kernel's counters and seq numbers in range.
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
    config: RDUConfig
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


def compile_graph(graph: Graph, config: RDUConfig, mode: str = "unfused") -> CompiledGraph:
    """Kernels and buffers for ``graph`` on ``config``; CompileError before any simulation."""
    if mode not in MODES:
        raise CompileError(f"unknown mode {mode!r}; modes: {', '.join(MODES)}")
    if not graph.outputs:
        raise CompileError("the graph has no outputs")
    lanes = config.lanes
    prims, infos = lower(graph, lanes, config.pmu_depth, mode == "fused")
    groups = group_prims(prims, set(graph.outputs), mode == "fused", config.stages)
    builder = _KernelBuilder(config, infos)
    kernels = []
    for group in groups:
        kernels.extend(builder.group(group))
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


def _check_device_memory(config: RDUConfig, infos: dict) -> None:
    beat = config.vector_bits // 8
    _, size = tensor_region(config.memory_bytes)
    total = 0
    for name, info in infos.items():
        total += -(-info.words(config.lanes) * 4 // beat) * beat
        if total > size:
            raise CompileError(f"tensor {name}: device memory overflow, the kernels' buffers "
                               f"need more than the {size} bytes of the tensor region")


def _numbered(kernels: list, what: str, starts) -> list:
    """Kernels of one group cut into ranges, named by the ``what`` each starts from."""
    if len(kernels) == 1:
        return kernels
    return [replace(k, name=f"{k.name} [{what} {start}..]")
            for k, start in zip(kernels, starts, strict=True)]


def _stage_config(prim: Prim) -> StageConfig:
    """The SIMD stage of a stage primitive (placement.STAGE_PRIMS)."""
    if prim.kind in ROW_STAGE_OPS:
        return StageConfig(op=ROW_STAGE_OPS[prim.kind], a=Src.PREV, b=Src.SCALAR)
    if prim.kind == "square":
        return StageConfig(op=StageOp.FMUL, a=Src.PREV, b=Src.PREV)
    if prim.kind == "from_bf16":  # the bf16 bits (low half, as to_bf16 writes them) up
        return StageConfig(op=StageOp.ISHL, a=Src.PREV, b=Src.IMM, imm=16)
    op = StageOp.FMUL if prim.kind == "scale" else StageOp.FADD
    return StageConfig(op=op, a=Src.PREV, b=Src.IMM, imm=prim.attrs["imm"])


def _op_name(prims) -> str:
    return " -> ".join(f"{p.kind}({', '.join(p.inputs)})" for p in prims)


class _KernelBuilder:
    def __init__(self, config: RDUConfig, infos: dict):
        self.config, self.infos, self.lanes = config, infos, config.lanes
        kinds = [kind for kind, _ in config.units()]
        self.pcus = [i for i, kind in enumerate(kinds) if kind == UnitKind.PCU]
        self.pmus = [i for i, kind in enumerate(kinds) if kind == UnitKind.PMU]

    # -- resources ------------------------------------------------------------------------
    def _units(self, prims, pcus: int, pmus: int):
        what = _op_name(prims)
        if pcus > len(self.pcus):
            raise CompileError(f"{what}: too many units, needs {pcus} PCUs; this RDU has "
                               f"{len(self.pcus)} (compile unfused, or for a larger RDU)")
        if pmus > len(self.pmus):
            raise CompileError(f"{what}: too many units, needs {pmus} PMUs; this RDU has "
                               f"{len(self.pmus)} (compile unfused, or for a larger RDU)")
        return self.pcus[:pcus], self.pmus[:pmus]

    def _bound(self, prims, value: int, what: str) -> int:
        if not 1 <= value <= MAX_BOUND:
            raise CompileError(f"{_op_name(prims)}: PCU counter overflow, {what} = {value} "
                               f"exceeds {MAX_BOUND}")
        return value

    def _pcu(self, **fields) -> PCUConfig:
        return PCUConfig(lanes=self.lanes, stages=self.config.stages, **fields)

    def _build(self, prims, builder: ProgramBuilder):
        try:
            return builder.build()
        except ProgramError as error:
            raise CompileError(f"{_op_name(prims)}: {error}") from None

    # -- groups ---------------------------------------------------------------------------
    def group(self, prims: list[Prim]) -> list[Kernel]:
        head = prims[0].kind
        if head == "vec_max":
            return self._vec_max(prims)
        if head == "gather_max":
            return self._gather_max(prims)
        if head == "pair_op":
            if len(prims) == 1:
                return self._pair_op(prims)
            return self._pair_chain(prims)
        if head == "broadcast":
            return self._broadcast(prims)
        if head == "a_layout":
            return self._a_layout(prims)
        slots = pcu_slots(prims, self.config.stages)
        if head == "gemm_chunk":
            return self._gemm(prims, slots)
        return self._pipeline(prims, slots)

    def _slot_config(self, prims, slot: Slot, vectors: int, rows: int, row_beats: int):
        """(PCUConfig, vectors out) of one SIMD slot fed ``vectors`` vectors."""
        tail = TAIL_OPS[slot.tail.kind] if slot.tail else TailOp.PASS
        facc = (StageConfig(op=StageOp.FACC),) + (StageConfig(),) * (self.config.stages - 1)
        if slot.stages:
            return self._stage_slot_config(prims, slot, tail, vectors, rows, row_beats)
        kind = slot.body.kind if slot.body else None
        if kind == "add":
            bound = self._bound(prims, vectors, "vectors")
            return self._pcu(stage=facc, tail=tail, emit=Emit.INNER_LAST, counters=(
                CounterConfig(bound=2), CounterConfig(bound=bound), CounterConfig())), vectors
        if kind == "row_sum":
            counters = (CounterConfig(bound=self._bound(prims, row_beats, "vectors per row")),
                        CounterConfig(bound=self._bound(prims, rows, "rows")), CounterConfig())
            return self._pcu(stage=facc, tail=tail, emit=Emit.INNER_LAST, reduce=ReduceOp.SUM,
                             counters=counters), rows
        counters = (CounterConfig(bound=self._bound(prims, vectors, "vectors")),
                    CounterConfig(), CounterConfig())
        if kind == "row_max":
            return self._pcu(tail=tail, reduce=ReduceOp.MAX, counters=counters), rows
        return self._pcu(tail=tail, counters=counters), vectors

    def _stage_slot_config(self, prims, slot: Slot, tail, vectors: int, rows: int,
                           row_beats: int):
        """A PCU running ``slot.stages`` in stages 0, 1, ...; a row op first takes one
        scalar with every vector (innermost loop of 1, see :meth:`_row_op_streams`)."""
        stage = [_stage_config(prim) for prim in slot.stages]
        stage += [StageConfig()] * (self.config.stages - len(stage))
        if slot.stages[0].kind in ROW_STAGE_OPS:
            counters = (CounterConfig(bound=1),
                        CounterConfig(bound=self._bound(prims, vectors, "vectors")),
                        CounterConfig())
            return self._pcu(stage=tuple(stage), tail=tail, use_scalar=True,
                             counters=counters), vectors
        counters = (CounterConfig(bound=self._bound(prims, vectors, "vectors")),
                    CounterConfig(), CounterConfig())
        return self._pcu(stage=tuple(stage), tail=tail, counters=counters), vectors

    def _chain(self, builder, prims, units: list, first_flow: int, scalar_last: bool) -> int:
        """Route AGCU -> units[0] -> ... -> AGCU from ``first_flow``; return the write flow."""
        flow = first_flow
        builder.flow(flow, AGCU, [units[0]])
        for src, dst in zip(units, units[1:], strict=False):
            flow += 1
            builder.flow(flow, src, [dst])
        flow += 1
        builder.flow(flow, units[-1], [AGCU], fabric="scalar" if scalar_last else "vector")
        return flow

    def _transposer(self, groups: int, columns: int) -> PMUConfig:
        """A PMU that takes ``groups`` tiles of ``lanes`` beats (diagonal write) and reads
        columns ``0..columns-1`` of each (transposed read), in one pass."""
        lanes, rows = self.lanes, groups * self.lanes
        return PMUConfig(
            write=AddressGenConfig(base=0, bounds=(rows, 1, 1), strides=(1, 0, 0), lo=0,
                                   hi=rows),
            read=AddressGenConfig(base=0, bounds=(columns, groups, 1), strides=(1, lanes, 0),
                                  lo=0, hi=rows),
            write_layout=WriteLayout.DIAGONAL, read_layout=ReadLayout.TRANSPOSED)

    def _group_ranges(self, groups: int):
        """(first, count) ranges of tiles, one per kernel (see ``MAX_STREAMED_BEATS``)."""
        per_kernel = max(1, min(MAX_STREAMED_BEATS, self.config.pmu_depth) // self.lanes)
        return [(g, min(per_kernel, groups - g)) for g in range(0, groups, per_kernel)]

    def _pair_stages(self, prim) -> tuple:
        """The stages of a pair op's PCU: stage 0 applies the op to PAIR_LO, PAIR_HI."""
        if prim.attrs["op"] == "select":  # mask (PAIR_HI) != 0 ? x (PAIR_LO) : the padding
            first_stage = StageConfig(op=StageOp.SEL, a=Src.PAIR_LO, b=Src.IMM, c=Src.PAIR_HI,
                                      imm=prim.attrs["pad"])
        else:
            first_stage = StageConfig(op=PAIR_STAGE_OPS[prim.attrs["op"]], a=Src.PAIR_LO,
                                      b=Src.PAIR_HI)
        return (first_stage,) + (StageConfig(),) * (self.config.stages - 1)

    def _pair_op(self, prims) -> list[Kernel]:
        (prim,) = prims
        ranges = self._group_ranges(prim.attrs["groups"])
        return _numbered([self._pair_op_part(prim, *r) for r in ranges], "tiles",
                         [g for g, _ in ranges])

    def _pair_op_part(self, prim, first: int, groups: int) -> Kernel:
        """AGCU (a_j, b_j interleaved) -> PMU (transpose) -> PCU (op on PAIR_LO, PAIR_HI)."""
        prims, lanes, half = [prim], self.lanes, self.lanes // 2
        (pcu,), (pmu,) = self._units(prims, 1, 1)
        vectors = groups * lanes
        builder = ProgramBuilder(self.config).unit(pmu, self._transposer(groups, lanes))
        builder.unit(pcu, self._pcu(stage=self._pair_stages(prim), counters=(
            CounterConfig(bound=vectors), CounterConfig(), CounterConfig())))
        out_flow = self._chain(builder, prims, [pmu, pcu], 0, False)
        builder.done_tokens([pmu, pcu])
        a, b = prim.inputs
        read = Stream(READ, 0, a, first * half, (2, half, groups), (b, 1, half))
        write = Stream(WRITE, out_flow, prim.output, first * lanes, (vectors, 1, 1), (1, 0, 0))
        return Kernel(_op_name(prims), self._build(prims, builder), (read, write), 2)

    def _pair_chain(self, prims) -> list[Kernel]:
        """A fused pair op: ``pair_op``, its ``untranspose`` and the chain after it in one
        kernel per range of tiles, the pairs passed PCU -> PMU on chip instead of through
        device memory; with fewer than 2 PMUs (or PCUs for the chain), two kernel groups
        as unfused."""
        head, chain = prims[0], prims[1:]
        slots = pcu_slots(chain, self.config.stages)
        if len(self.pmus) < 2 or len(self.pcus) < 1 + len(slots):
            return self._pair_op([head]) + self.group(chain)
        ranges = self._group_ranges(head.attrs["groups"])
        return _numbered([self._pair_chain_part(prims, slots, *r) for r in ranges], "tiles",
                         [g for g, _ in ranges])

    def _pair_chain_part(self, prims, slots, first: int, groups: int) -> Kernel:
        """AGCU (a_j, b_j interleaved) -> PMU (transpose) -> PCU (op) -> PMU (transpose
        back) -> the chain's PCUs -> AGCU."""
        head, lanes, half = prims[0], self.lanes, self.lanes // 2
        pcus, (pmu_pairs, pmu_back) = self._units(prims, 1 + len(slots), 2)
        builder = ProgramBuilder(self.config).unit(pmu_pairs, self._transposer(groups, lanes))
        builder.unit(pcus[0], self._pcu(stage=self._pair_stages(head), counters=(
            CounterConfig(bound=groups * lanes), CounterConfig(), CounterConfig())))
        builder.unit(pmu_back, self._transposer(groups, half))
        count = groups * half
        for unit, slot in zip(pcus[1:], slots, strict=True):
            pcu_config, count = self._slot_config(prims, slot, count, groups, 1)
            builder.unit(unit, pcu_config)
        units = [pmu_pairs, pcus[0], pmu_back, *pcus[1:]]
        out_flow = self._chain(builder, prims, units, 0, False)
        builder.done_tokens(units)
        a, b = head.inputs
        read = Stream(READ, 0, a, first * half, (2, half, groups), (b, 1, half))
        write = Stream(WRITE, out_flow, prims[-1].output, first * half, (count, 1, 1),
                       (1, 0, 0))
        return Kernel(_op_name(prims), self._build(prims, builder), (read, write), len(units))

    def _pipeline(self, prims, slots) -> list[Kernel]:
        """One kernel, or several over consecutive row ranges (see ``MAX_STREAMED_BEATS``)."""
        head = prims[0]
        x = self.infos[head.inputs[0]]
        rows, row_beats = x.shape[0], beats_per_row(x.shape[1], self.lanes)
        if head.kind == "untranspose":
            ranges = self._group_ranges(head.attrs["groups"])
            return _numbered([self._pipeline_part(prims, slots, g, count, 1)
                              for g, count in ranges], "tiles", [g for g, _ in ranges])
        operands = 2 if head.kind == "add" else 1
        if head.kind in ROW_STAGE_OPS:
            operands = 2  # a scalar beat with every vector
        if head.kind in ROW_STAGE_OPS or any(slot.reduces for slot in slots):
            per_kernel = max(1, MAX_STREAMED_BEATS // (operands * row_beats))  # whole rows
            ranges = [(r, min(per_kernel, rows - r)) for r in range(0, rows, per_kernel)]
            return _numbered([self._pipeline_part(prims, slots, r, count, row_beats)
                              for r, count in ranges], "rows", [r for r, _ in ranges])
        # Elementwise: any split of the vectors will do; one "row" per vector.
        vectors = rows * row_beats
        per_kernel = MAX_STREAMED_BEATS // operands
        starts = range(0, vectors, per_kernel)
        return _numbered([self._pipeline_part(prims, slots, v, min(per_kernel, vectors - v), 1)
                          for v in starts], "vectors", starts)

    def _pipeline_part(self, prims, slots, first_row: int, rows: int, row_beats: int) -> Kernel:
        """Rows ``first_row ..`` of the chain (for ``untranspose``: tiles ``first_row ..``)."""
        head = prims[0]
        vectors = rows * row_beats
        pmus, tokens = 0, 0
        if head.kind == "untranspose":
            vectors, pmus = rows * (self.lanes // 2), 1
        pcus, pmu = self._units(prims, len(slots), pmus)
        builder = ProgramBuilder(self.config)
        if pmus:
            builder.unit(pmu[0], self._transposer(rows, self.lanes // 2))
            tokens = 1
        count = vectors
        for unit, slot in zip(pcus, slots, strict=True):
            pcu_config, count = self._slot_config(prims, slot, count, rows, row_beats)
            builder.unit(unit, pcu_config)
        out_flow = self._chain(builder, prims, [*pmu, *pcus], 0, slots[-1].reduces)
        builder.done_tokens([*pmu, *pcus])
        start = first_row * row_beats
        if head.kind in ROW_STAGE_OPS:
            builder.flow(out_flow + 1, AGCU, [pcus[0]], fabric="scalar")
            reads = self._row_op_streams(head, out_flow + 1, first_row, rows, row_beats)
        elif head.kind == "untranspose":
            start = first_row * (self.lanes // 2)
            read = Stream(READ, 0, head.inputs[0], first_row * self.lanes,
                          (rows * self.lanes, 1, 1), (1, 0, 0))
        elif head.kind == "add":
            read = Stream(READ, 0, head.inputs[0], start, (2, vectors, 1),
                          (head.inputs[1], 1, 0))
        else:
            read = Stream(READ, 0, head.inputs[0], start, (vectors, 1, 1), (1, 0, 0))
        if head.kind not in ROW_STAGE_OPS:
            reads = (read,)
        out_start = first_row if slots[-1].reduces else start
        write = Stream(WRITE, out_flow, prims[-1].output, out_start, (count, 1, 1), (1, 0, 0))
        return Kernel(_op_name(prims), self._build(prims, builder), (*reads, write),
                      len(pcus) + tokens)

    @staticmethod
    def _row_op_streams(head, scalar_flow: int, first_row: int, rows: int, row_beats: int):
        """``x`` one beat per burst, and ``s[r]`` once per vector of row ``r`` (a stride-0
        level: single beats), on the scalar flow.

        The AGCU's read buffer is one FIFO and its AR arbiter grants the streams a burst
        each in turn, so two streams of single beats, the same number of beats each,
        arrive alternating: at most one scalar or one vector ahead of the PCU, which
        takes a scalar with each vector. A row of vectors in one burst with one scalar
        per row deadlocks: a burst of scalars (or of a row's vectors, when the arbiter
        happens to start with ``x``) fills its FIFO with the beats the PCU needs next
        stuck behind it in the read buffer."""
        vectors = rows * row_beats
        x, s = head.inputs
        return (Stream(READ, 0, x, first_row * row_beats, (1, vectors, 1), (1, 1, 0)),
                Stream(READ, scalar_flow, s, first_row, (row_beats, rows, 1), (0, 1, 0)))

    def _gemm(self, prims, slots) -> list[Kernel]:
        """Per batch of tile cols a kernel that writes the B halves into the PMU and runs
        the systolic PCU on the packed words; the tile row's first batch (its widest)
        writes the A halves first.

        Two READ streams into one PMU would interleave their beats at burst granularity
        (the AGCU round-robins their AR requests and R beats of different IDs may
        interleave), and the PMU's write pattern needs a fixed order; so the B stream is
        ``ordered``: the AGCU starts it after the A stream's last beat. The PMU keeps its
        contents between kernels, so the A halves staged once serve every batch of the
        tile row (each batch writes its B halves over rows ``0 .. count*kc - 1`` and
        reads the packed words back)."""
        head = prims[0]
        plan: GemmPlan = head.attrs["plan"]
        chunk = head.attrs["chunk"]
        pcus, (pmu,) = self._units(prims, len(slots), 1)
        out, lanes, depth = prims[-1].output, self.lanes, self.config.pmu_depth
        name = _op_name(prims)
        kernels = []
        staged_row = None
        for ti, tj, count in plan.batches():
            stage_a = ti != staged_row  # the tile row's first batch is its widest
            staged_row = ti
            rows = count * plan.kc
            # Local write addresses 0.. select the low (A) halves of rows 0.., depth.. the
            # high (B) halves: a batch that stages A writes both, A first.
            halves = AddressGenConfig(base=0 if stage_a else depth,
                                      bounds=(rows, 2 if stage_a else 1, 1),
                                      strides=(1, depth, 0), lo=0, hi=2 * depth)
            dense = AddressGenConfig(base=0, bounds=(rows, 1, 1), strides=(1, 0, 0), lo=0,
                                     hi=rows)
            builder = ProgramBuilder(self.config).unit(pmu, PMUConfig(
                write=halves, read=dense, half_write=True))
            builder.unit(pcus[0], self._pcu(mode=Mode.SYSTOLIC, counters=(
                CounterConfig(bound=plan.kc), CounterConfig(bound=count), CounterConfig())))
            for unit, slot in zip(pcus[1:], slots[1:], strict=True):
                builder.unit(unit, self._slot_config(prims, slot, count * lanes, 0, 0)[0])
            out_flow = self._chain(builder, prims, [pmu, *pcus], 0, False)
            builder.done_tokens([pmu, *pcus])
            row_beats = plan.tile_cols
            reads = (Stream(READ, 0, head.attrs["b_buffer"], plan.b_index(chunk, tj),
                            (rows, 1, 1), (1, 0, 0), ordered=stage_a),)
            if stage_a:  # A's kc vectors once per tile of the batch (a stride-0 level)
                reads = (Stream(READ, 0, head.attrs["a_buffer"], plan.a_index(chunk, ti),
                                (plan.kc, count, 1), (1, 0, 0)), *reads)
            write = Stream(WRITE, out_flow, out, ti * lanes * row_beats + tj,
                           (lanes, count, 1), (row_beats, 1, 0))
            kernels.append(Kernel(f"{name} tile ({ti}, {tj}..{tj + count - 1}) chunk {chunk}",
                                  self._build(prims, builder), (*reads, write),
                                  2 + len(slots) - 1))
        return kernels

    def _a_layout(self, prims) -> list[Kernel]:
        """The A layout of a tensor made on the device: per tile row and K chunk (cut in
        pieces whose tiles fit the PMU), one kernel."""
        (prim,) = prims
        plan: GemmPlan = prim.attrs["plan"]
        row_beats = beats_per_row(plan.k, self.lanes)
        # a piece starting anywhere in a tile spans at most piece / lanes + 1 tiles
        piece = max(1, self.config.pmu_depth // self.lanes - 1) * self.lanes
        kernels = []
        for ti in range(plan.tile_rows):
            for chunk in range(plan.chunks):
                first, end = chunk * plan.kc, min(plan.k, (chunk + 1) * plan.kc)
                for start in range(first, end, piece):
                    kernels.append(self._a_layout_part(prim, plan, ti, chunk, start,
                                                       min(end, start + piece), row_beats))
        return kernels

    def _a_layout_part(self, prim, plan: GemmPlan, ti: int, chunk: int, start: int, end: int,
                       row_beats: int) -> Kernel:
        """Columns ``start .. end - 1`` of tile row ``ti``: the AGCU reads the ``lanes x
        lanes`` tiles that hold them (``lanes`` rows of one beat each), a PMU transposes
        them (diagonal write, transposed read of just those columns) and a PASS PCU hands
        the column vectors back, written at their place in the A layout."""
        prims, lanes = [prim], self.lanes
        (pcu,), (pmu,) = self._units(prims, 1, 1)
        g0, count = start // lanes, end - start
        groups = (end - 1) // lanes - g0 + 1
        rows = groups * lanes
        builder = ProgramBuilder(self.config).unit(pmu, PMUConfig(
            write=AddressGenConfig(base=0, bounds=(rows, 1, 1), strides=(1, 0, 0), lo=0,
                                   hi=rows),
            read=AddressGenConfig(base=start - g0 * lanes, bounds=(count, 1, 1),
                                  strides=(1, 0, 0), lo=0, hi=rows),
            write_layout=WriteLayout.DIAGONAL, read_layout=ReadLayout.TRANSPOSED))
        builder.unit(pcu, self._pcu(counters=(
            CounterConfig(bound=self._bound(prims, count, "vectors")), CounterConfig(),
            CounterConfig())))
        out_flow = self._chain(builder, prims, [pmu, pcu], 0, False)
        builder.done_tokens([pmu, pcu])
        read = Stream(READ, 0, prim.inputs[0], ti * lanes * row_beats + g0, (lanes, groups, 1),
                      (row_beats, 1, 0))
        write = Stream(WRITE, out_flow, prim.output,
                       plan.a_index(chunk, ti) + start - chunk * plan.kc, (count, 1, 1),
                       (1, 0, 0))
        return Kernel(f"{_op_name(prims)} tile row {ti} columns {start}..{end - 1}",
                      self._build(prims, builder), (read, write), 2)

    def _broadcast(self, prims) -> list[Kernel]:
        (prim,) = prims
        w = self.infos[prim.inputs[0]]
        rows, row_beats = prim.attrs["rows"], beats_per_row(w.shape[1], self.lanes)
        per_kernel = max(1, MAX_STREAMED_BEATS // row_beats)
        starts = range(0, rows, per_kernel)
        return _numbered([self._broadcast_part(prim, r, min(per_kernel, rows - r), row_beats)
                          for r in starts], "rows", starts)

    def _broadcast_part(self, prim, first_row: int, rows: int, row_beats: int) -> Kernel:
        """The AGCU reads the one row of ``w`` ``rows`` times (a stride-0 level); a PASS PCU
        hands the beats back to be written as rows ``first_row ..`` of the output."""
        prims = [prim]
        (pcu,), _ = self._units(prims, 1, 0)
        vectors = self._bound(prims, rows * row_beats, "vectors")
        builder = ProgramBuilder(self.config).unit(pcu, self._pcu(counters=(
            CounterConfig(bound=vectors), CounterConfig(), CounterConfig())))
        out_flow = self._chain(builder, prims, [pcu], 0, False)
        builder.done_tokens([pcu])
        read = Stream(READ, 0, prim.inputs[0], 0, (row_beats, rows, 1), (1, 0, 0))
        write = Stream(WRITE, out_flow, prim.output, first_row * row_beats, (vectors, 1, 1),
                       (1, 0, 0))
        return Kernel(_op_name(prims), self._build(prims, builder), (read, write), 1)

    def _vec_max(self, prims) -> list[Kernel]:
        (prim,) = prims
        rows, row_beats = self.infos[prim.inputs[0]].shape[0], prim.attrs["vectors"]
        per_kernel = max(1, MAX_STREAMED_BEATS // row_beats)
        starts = range(0, rows, per_kernel)
        return _numbered([self._vec_max_part(prim, r, min(per_kernel, rows - r), row_beats)
                          for r in starts], "rows", starts)

    def _vec_max_part(self, prim, first_row: int, rows: int, row_beats: int) -> Kernel:
        prims = [prim]
        (pcu,), _ = self._units(prims, 1, 0)
        vectors = self._bound(prims, rows * row_beats, "vectors")
        builder = ProgramBuilder(self.config).unit(pcu, self._pcu(
            reduce=ReduceOp.MAX, counters=(CounterConfig(bound=vectors), CounterConfig(),
                                           CounterConfig())))
        out_flow = self._chain(builder, prims, [pcu], 0, True)
        builder.done_tokens([pcu])
        per_row = prim.attrs["per_row"]
        read = Stream(READ, 0, prim.inputs[0], first_row * row_beats, (vectors, 1, 1),
                      (1, 0, 0))
        write = Stream(WRITE, out_flow, prim.output, first_row * per_row, (row_beats, rows, 1),
                       (1, per_row, 0))
        return Kernel(_op_name(prims), self._build(prims, builder), (read, write), 1)

    def _gather_max(self, prims) -> list[Kernel]:
        (prim,) = prims
        ranges = self._group_ranges(self.infos[prim.output].shape[0])
        return _numbered([self._gather_max_part(prim, *r) for r in ranges], "groups",
                         [g for g, _ in ranges])

    def _gather_max_part(self, prim, first: int, groups: int) -> Kernel:
        """A PMU gathers lane 0 of every ``lanes`` beats (diagonal write, transposed read of
        column 0); the PCU's tree takes the max of each gathered vector."""
        prims, lanes = [prim], self.lanes
        (pcu,), (pmu,) = self._units(prims, 1, 1)
        builder = ProgramBuilder(self.config).unit(pmu, self._transposer(groups, 1))
        builder.unit(pcu, self._pcu(reduce=ReduceOp.MAX, counters=(
            CounterConfig(bound=groups), CounterConfig(), CounterConfig())))
        out_flow = self._chain(builder, prims, [pmu, pcu], 0, True)
        builder.done_tokens([pmu, pcu])
        read = Stream(READ, 0, prim.inputs[0], first * lanes, (groups * lanes, 1, 1),
                      (1, 0, 0))
        write = Stream(WRITE, out_flow, prim.output, first, (groups, 1, 1), (1, 0, 0))
        return Kernel(_op_name(prims), self._build(prims, builder), (read, write), 2)

