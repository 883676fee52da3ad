"""The levels of a wide ``row_max`` (lowering._lower_row_max): ``vec_max`` (the max of
each vector, written one per beat into rows of ``-inf``-filled slots), then
``gather_max`` levels (a PMU gathers lane 0 of ``lanes`` beats into one vector, the
PCU's tree takes its max). ``row_sum`` and ``row_max`` of one vector per row are
pipeline slots (:mod:`.slots`)."""

from hdl.agcu.arguments import READ, WRITE
from pcu_pmu.pcu.config import ReduceOp

from ..kernel import Kernel, Stream
from .common import KernelContext, counters, linear

__all__ = ["build_vec_max", "build_gather_max"]


def build_vec_max(ctx: KernelContext, prims) -> list[Kernel]:
    """One kernel per range of whole rows."""
    (prim,) = prims
    rows, row_beats = ctx.infos[prim.inputs[0]].shape[0], prim.attrs["vectors"]
    return ctx.split(lambda first, count: _vec_max_part(ctx, prim, first, count, row_beats),
                     ctx.row_ranges(rows, row_beats), "rows")


def _vec_max_part(ctx: KernelContext, prim, first_row: int, rows: int,
                  row_beats: int) -> Kernel:
    """The PCU's tree takes the max of each vector of rows ``first_row ..``; the AGCU
    writes row ``r``'s maxima into its ``per_row`` slots."""
    prims = [prim]
    (pcu,), _ = ctx.units(prims, 1, 0)
    vectors = ctx.bound(prims, rows * row_beats, "vectors")
    builder = ctx.program().unit(pcu, ctx.pcu(reduce=ReduceOp.MAX, counters=counters(vectors)))
    out_flow = ctx.route(prims, builder, [pcu], scalar_last=True)
    per_row = prim.attrs["per_row"]
    read = linear(READ, 0, prim.inputs[0], first_row * row_beats, vectors)
    write = Stream(WRITE, out_flow, prim.output, first_row * per_row, (row_beats, rows, 1),
                   (1, per_row, 0))
    return ctx.kernel(prims, builder, (read, write), 1)


def build_gather_max(ctx: KernelContext, prims) -> list[Kernel]:
    """One kernel per range of tiles (``lanes`` beats each)."""
    (prim,) = prims
    return ctx.split(lambda first, groups: _gather_max_part(ctx, prim, first, groups),
                     ctx.tile_ranges(ctx.infos[prim.output].shape[0]), "groups")


def _gather_max_part(ctx: KernelContext, prim, first: int, groups: int) -> Kernel:
    """A PMU gathers lane 0 of every ``lanes`` beats (diagonal write, transposed read of
    column 0); the PCU's tree takes the max of each gathered vector."""
    prims, lanes = [prim], ctx.lanes
    (pcu,), (pmu,) = ctx.units(prims, 1, 1)
    builder = ctx.program().unit(pmu, ctx.transposer(groups, 1))
    builder.unit(pcu, ctx.pcu(reduce=ReduceOp.MAX, counters=counters(groups)))
    out_flow = ctx.route(prims, builder, [pmu, pcu], scalar_last=True)
    read = linear(READ, 0, prim.inputs[0], first * lanes, groups * lanes)
    write = linear(WRITE, out_flow, prim.output, first, groups)
    return ctx.kernel(prims, builder, (read, write), 2)
