"""PCU pipelines: a chain of slots (elementwise ``add``, unary tail ops, SIMD stage
primitives, ``row_sum`` / ``row_max`` of one vector per row) fed from device memory by
the AGCU, one kernel per range of rows or vectors (see ``max_streamed_beats``).

A row op (``row_add``/``row_sub``/``row_mul``) head adds one more flow, AGCU -> its
PCU on the scalar fabric (:func:`row_op_streams`)."""

from hdl.agcu.arguments import READ, WRITE
from testbench.runtime.program import AGCU

from ..kernel import Kernel, Stream
from ..kinds import OpKind
from ..layout import beats_per_row
from ..placement import pcu_slots
from .common import KernelContext, linear, ranges
from .slots import ROW_STAGE_OPS, add_slots

__all__ = ["build_pipeline", "row_op_streams"]


def build_pipeline(ctx: KernelContext, prims) -> list[Kernel]:
    """One kernel, or several over consecutive row ranges (whole rows when a row op
    heads the chain or a slot reduces), else over ranges of vectors."""
    slots = pcu_slots(prims, ctx.config.stages)
    head = prims[0]
    x = ctx.infos[head.inputs[0]]
    rows, row_beats = x.shape[0], beats_per_row(x.shape[1], ctx.lanes)
    row_op = head.kind in ROW_STAGE_OPS
    # beats streamed per vector: a row op takes a scalar beat with every vector
    operands = 2 if row_op or head.kind == OpKind.ADD else 1
    if row_op or any(slot.reduces for slot in slots):
        return ctx.split(lambda first, count: _part(ctx, prims, slots, first, count, row_beats),
                         ctx.row_ranges(rows, operands * row_beats), "rows")
    # Elementwise: any split of the vectors will do; one "row" per vector.
    spans = ranges(rows * row_beats, ctx.max_streamed_beats // operands)
    return ctx.split(lambda first, count: _part(ctx, prims, slots, first, count, 1), spans,
                     "vectors")


def _part(ctx: KernelContext, prims, slots, first_row: int, rows: int,
          row_beats: int) -> Kernel:
    """Rows ``first_row ..`` of the chain (an elementwise chain's "rows" are vectors:
    ``row_beats`` 1)."""
    head = prims[0]
    vectors = rows * row_beats
    pcus, _ = ctx.units(prims, len(slots), 0)
    builder = ctx.program()
    count = add_slots(ctx, builder, prims, pcus, slots, vectors, rows, row_beats)
    out_flow = ctx.route(prims, builder, pcus, slots[-1].reduces,
                         extra_flows=1 if head.kind in ROW_STAGE_OPS else 0)
    start = first_row * row_beats
    if head.kind in ROW_STAGE_OPS:
        builder.flow(out_flow + 1, AGCU, [pcus[0]], fabric="scalar")
        reads = row_op_streams(head, out_flow + 1, first_row, rows, row_beats)
    elif head.kind == OpKind.ADD:  # the two operands' beats interleaved
        reads = (Stream(READ, 0, head.inputs[0], start, (2, vectors, 1),
                        (head.inputs[1], 1, 0)),)
    else:
        reads = (linear(READ, 0, head.inputs[0], start, vectors),)
    write = linear(WRITE, out_flow, prims[-1].output,
                   first_row if slots[-1].reduces else start, count)
    return ctx.kernel(prims, builder, (*reads, write), len(pcus))


def row_op_streams(head, scalar_flow: int, first_row: int, rows: int, row_beats: int):
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
