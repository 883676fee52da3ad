"""Roofline model: the cycles a compiled run is predicted to take from its launches,
bytes and FLOPs.

``predicted = launch + max(memory, compute)`` (:func:`predict`), in cycles:

* launch = launches x one measured overhead per orchestration: what a launch costs
  outside its kernel. Software: per kernel, the program load (the host writes the image
  unless resident, PROGRAM_LOAD), the argument block write, ARGUMENT_LOAD +
  KERNEL_EXECUTE and the host's wait. Hardware: the host's write of the argument blocks
  and schedule table (and programs not yet resident), then per entry the AGCU's program
  and argument loads. ``rdu bench kernels`` takes the figure from its own runs (its
  ``overhead_cycles_per_launch``, averaged over the variants of an orchestration,
  weighted by their launches) and prints it above its roofline table.
* memory = ``bytes_moved`` (the AGCU's stream bytes, reads and writes) /
  :func:`memory_bytes_per_cycle`. Assumption: device memory moves one vector (``lanes x
  4`` bytes, 16 on ``tile2x2``) per cycle for the AGCU, read or write: with
  memory="sram" (``tile2x2``) the SRAM's AGCU port serves one burst at a time, one beat
  per cycle in either direction (hdl/memory/axi_sram.py); with memory="tiers" the port
  is as wide, and the HBM tier may be narrower, so the lower of the two.
* compute = the graph's FLOPs (:func:`graph_flops`) /
  :func:`hdl.rdu.config.peak_flops_per_cycle` (every PCU's systolic array, a
  multiply-add per PE per cycle: 64 on ``tile2x2``). Elementwise and row FLOPs run on
  the SIMD stages, not the arrays, but count against the same peak.

Memory and compute overlap (a kernel streams while it computes), launches do not.
So the prediction is what a run would take if every kernel streamed at the port's
full rate right after its launch.

Reading the bench's table (``measured``, the three terms, ``predicted``, ``meas/pred``,
``gap/launch`` = (measured - predicted) / launches) as it measured when this was
written (tile2x2, 256 KiB of SRAM):

* The launch overheads were 155 cycles (software) and 107 (hardware); launch is the
  largest term of every variant. For a software variant the term is close to its own
  ``cycles - kernel_cycles``, so its gap is mostly ``kernel_cycles - memory``.
* ``meas/pred`` was 1.43-1.78 for decode and 1.63-1.97 for prefill: the model misses
  what a kernel takes beyond streaming its bytes, 73-104 cycles per launch for decode
  (336-425 bytes per launch) and 164-199 for prefill (1577-1690 bytes per launch).
  Part is latency per kernel (the pipeline's fill and drain through the mesh, the
  first read's round trip, the last write's acknowledgement; the bench does not
  measure them apart), part is streaming below one beat per cycle: the software
  variants moved 3.3-3.4 bytes per kernel cycle for decode and 5.5-6.2 for prefill, of
  16. A GEMM kernel, e.g., writes its operands into a PMU (the B stream starting after
  the A stream's last beat) and reads them back for the systolic PCU
  (kernels/gemm.py): its streaming and computing take turns.
* Hardware variants' overheads assume a kernel takes as long as in the same mode's
  software run, so their gap is read the same way.
* The compute term never binds: decode does 7736 FLOPs on 38-45 KB (0.17-0.20 FLOPs
  per byte), prefill 51488 on 69-93 KB (0.55-0.74), against 64 / 16 = 4 at the
  ``tile2x2`` peaks.
* The model sees spatial mode only through its launches and bytes, not its units
  working side by side: decode spatial saved 4 launches and 2176 bytes over fused,
  and prefill compiled to the same 44 kernels as fused (nothing there joins).
"""

from dataclasses import dataclass

from hdl.rdu.config import RDUParams, peak_flops_per_cycle

from .compiler import CompiledGraph
from .graph import BINARY_OPS, COL_OPS, CONST_OPS, REDUCE_OPS, ROW_OPS, UNARY_OPS, Graph, Op

__all__ = ["CONVERSIONS", "RooflinePrediction", "op_flops", "graph_flops",
           "memory_bytes_per_cycle", "predict", "predict_compiled"]

#: ops that change a number's format and compute nothing: 0 FLOPs
CONVERSIONS = ("to_bf16", "from_bf16")


def op_flops(graph: Graph, op: Op) -> int:
    """FLOPs of one op: ``gemm`` 2 x M x N x K; a reduction ``cols - 1`` per row; a
    conversion (:data:`CONVERSIONS`) 0; every other op 1 per output element."""
    rows, cols = graph.tensor(op.output).shape
    if op.kind == "gemm":
        m, k = graph.tensor(op.inputs[0]).shape
        return 2 * m * cols * k
    if op.kind in CONVERSIONS:
        return 0
    if op.kind in REDUCE_OPS:
        in_rows, in_cols = graph.tensor(op.inputs[0]).shape
        return in_rows * (in_cols - 1)
    if op.kind in (*BINARY_OPS, *UNARY_OPS, *ROW_OPS, *COL_OPS, *CONST_OPS, "square"):
        return rows * cols
    raise ValueError(f"op {op.output}: no FLOP count for kind {op.kind!r}")


def graph_flops(graph: Graph) -> int:
    """FLOPs of every op of ``graph`` (the logical shapes: no padding to lanes)."""
    return sum(op_flops(graph, op) for op in graph.ops)


def memory_bytes_per_cycle(config: RDUParams) -> float:
    """Bytes per cycle device memory moves for the AGCU: one vector (``lanes x 4`` bytes),
    or the HBM tier's peak if that is lower (memory="tiers")."""
    vector_bytes = config.vector_bits // 8
    if config.memory == "tiers":
        from hdl.rdu.tier_params import hbm_peak_bytes_per_cycle  # only tiers need DRAM params

        return min(vector_bytes, hbm_peak_bytes_per_cycle(config))
    return vector_bytes


@dataclass(frozen=True)
class RooflinePrediction:
    """The three terms of a prediction, in cycles, and their combination."""

    launch_cycles: float
    memory_cycles: float
    compute_cycles: float

    @property
    def predicted_cycles(self) -> float:
        """Launch overhead plus the larger of the memory and compute terms."""
        return self.launch_cycles + max(self.memory_cycles, self.compute_cycles)

    @property
    def bound(self) -> str:
        """``memory`` or ``compute``: the term that counts."""
        return "compute" if self.compute_cycles > self.memory_cycles else "memory"


def predict(launches: int, bytes_moved: int, flops: int, overhead_per_launch: float,
            bytes_per_cycle: float, flops_per_cycle: float) -> RooflinePrediction:
    """The prediction from the figures themselves."""
    if bytes_per_cycle <= 0 or flops_per_cycle <= 0:
        raise ValueError("bytes and FLOPs per cycle must be positive")
    return RooflinePrediction(launches * overhead_per_launch, bytes_moved / bytes_per_cycle,
                              flops / flops_per_cycle)


def predict_compiled(compiled: CompiledGraph, overhead_per_launch: float) -> RooflinePrediction:
    """The prediction for a compiled run: its launches (one per kernel), its bytes moved,
    its graph's FLOPs, at its RDU's memory bandwidth and peak FLOPs."""
    config = compiled.config
    return predict(len(compiled.kernels), compiled.bytes_moved(), graph_flops(compiled.graph),
                   overhead_per_launch, memory_bytes_per_cycle(config),
                   peak_flops_per_cycle(config))
