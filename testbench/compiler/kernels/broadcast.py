"""``broadcast`` (lowering._lower_col_op): a ``[1, cols]`` weight written once per row
into a ``[rows, cols]`` buffer, for the ``add`` / ``mul`` of a column op."""

from hdl.agcu.arguments import READ, WRITE

from ..kernel import Kernel, Stream
from ..layout import beats_per_row
from .common import KernelContext, counters, linear

__all__ = ["build_broadcast"]


def build_broadcast(ctx: KernelContext, prims) -> list[Kernel]:
    """One kernel per range of whole output rows."""
    (prim,) = prims
    w = ctx.infos[prim.inputs[0]]
    rows, row_beats = prim.attrs["rows"], beats_per_row(w.shape[1], ctx.lanes)
    return ctx.split(lambda first, count: _broadcast_part(ctx, prim, first, count, row_beats),
                     ctx.row_ranges(rows, row_beats), "rows")


def _broadcast_part(ctx: KernelContext, prim, first_row: int, rows: int,
                    row_beats: int) -> Kernel:
    """The AGCU reads the one row of ``w`` ``rows`` times (a stride-0 level); a PASS PCU
    hands the beats back to be written as rows ``first_row ..`` of the output."""
    prims = [prim]
    (pcu,), _ = ctx.units(prims, 1, 0)
    vectors = ctx.bound(prims, rows * row_beats, "vectors")
    builder = ctx.program().unit(pcu, ctx.pcu(counters=counters(vectors)))
    out_flow = ctx.route(prims, builder, [pcu])
    read = Stream(READ, 0, prim.inputs[0], 0, (row_beats, rows, 1), (1, 0, 0))
    write = linear(WRITE, out_flow, prim.output, first_row * row_beats, vectors)
    return ctx.kernel(prims, builder, (read, write), 1)
