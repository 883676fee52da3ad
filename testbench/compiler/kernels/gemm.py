"""GEMM kernels: ``gemm_chunk`` (a PMU holds the packed A | B operand words, the
systolic PCU multiplies, slots after it take the result) and ``a_layout`` (an A
operand made on the device, transposed into the A layout by a PMU). The tiling is
the :class:`~..layout.GemmPlan` lowering chose."""

from hdl.agcu.arguments import READ, WRITE
from pcu_pmu.pcu.config import CounterConfig, Mode
from pcu_pmu.pmu.config import AddressGenConfig, PMUConfig, ReadLayout, WriteLayout

from ..kernel import Kernel, Stream
from ..layout import GemmPlan, beats_per_row
from ..placement import pcu_slots
from .common import KernelContext, counters, linear, op_name
from .slots import add_slots

__all__ = ["build_gemm", "build_a_layout"]


def build_gemm(ctx: KernelContext, prims) -> list[Kernel]:
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
    slots = pcu_slots(prims, ctx.config.stages)
    kernels, staged_row = [], None
    for ti, tj, count in prims[0].attrs["plan"].batches():
        # the tile row's first batch is its widest
        kernels.append(_batch(ctx, prims, slots, ti, tj, count, stage_a=ti != staged_row))
        staged_row = ti
    return kernels


def _batch(ctx: KernelContext, prims, slots, ti: int, tj: int, count: int,
           stage_a: bool) -> Kernel:
    """Tiles ``(ti, tj .. tj + count - 1)`` of the chunk (after its A halves if
    ``stage_a``)."""
    head = prims[0]
    plan: GemmPlan = head.attrs["plan"]
    chunk = head.attrs["chunk"]
    pcus, (pmu,) = ctx.units(prims, len(slots), 1)
    lanes, depth = ctx.lanes, ctx.config.pmu_depth
    rows = count * plan.kc
    # Local write addresses 0.. select the low (A) halves of rows 0.., depth.. the high
    # (B) halves: a batch that stages A writes both, A first.
    halves = AddressGenConfig(base=0 if stage_a else depth, bounds=(rows, 2 if stage_a else 1, 1),
                              strides=(1, depth, 0), lo=0, hi=2 * depth)
    dense = AddressGenConfig(base=0, bounds=(rows, 1, 1), strides=(1, 0, 0), lo=0, hi=rows)
    builder = ctx.program().unit(pmu, PMUConfig(write=halves, read=dense, half_write=True))
    builder.unit(pcus[0], ctx.pcu(mode=Mode.SYSTOLIC, counters=(
        CounterConfig(bound=plan.kc), CounterConfig(bound=count), CounterConfig())))
    add_slots(ctx, builder, prims, pcus[1:], slots[1:], count * lanes, 0, 0)
    out_flow = ctx.route(builder, [pmu, *pcus])
    reads = (Stream(READ, 0, head.attrs["b_buffer"], plan.b_index(chunk, tj), (rows, 1, 1),
                    (1, 0, 0), ordered=stage_a),)
    if stage_a:  # A's kc vectors once per tile of the batch (a stride-0 level)
        reads = (Stream(READ, 0, head.attrs["a_buffer"], plan.a_index(chunk, ti),
                        (plan.kc, count, 1), (1, 0, 0)), *reads)
    row_beats = plan.tile_cols
    write = Stream(WRITE, out_flow, prims[-1].output, ti * lanes * row_beats + tj,
                   (lanes, count, 1), (row_beats, 1, 0))
    return ctx.kernel(prims, builder, (*reads, write), 1 + len(slots),
                      f"{op_name(prims)} tile ({ti}, {tj}..{tj + count - 1}) chunk {chunk}")


def build_a_layout(ctx: KernelContext, prims) -> list[Kernel]:
    """The A layout of a tensor made on the device: per tile row and K chunk (cut in
    pieces whose tiles fit the PMU), one kernel."""
    (prim,) = prims
    plan: GemmPlan = prim.attrs["plan"]
    row_beats = beats_per_row(plan.k, ctx.lanes)
    # a piece starting anywhere in a tile spans at most piece / lanes + 1 tiles
    piece = max(1, ctx.config.pmu_depth // ctx.lanes - 1) * ctx.lanes
    kernels = []
    for ti in range(plan.tile_rows):
        for chunk in range(plan.chunks):
            first, end = chunk * plan.kc, min(plan.k, (chunk + 1) * plan.kc)
            for start in range(first, end, piece):
                kernels.append(_a_layout_part(ctx, prim, plan, ti, chunk, start,
                                              min(end, start + piece), row_beats))
    return kernels


def _a_layout_part(ctx: KernelContext, prim, plan: GemmPlan, ti: int, chunk: int, start: int,
                   end: int, row_beats: int) -> Kernel:
    """Columns ``start .. end - 1`` of tile row ``ti``: the AGCU reads the ``lanes x
    lanes`` tiles that hold them (``lanes`` rows of one beat each), a PMU transposes
    them (diagonal write, transposed read of just those columns) and a PASS PCU hands
    the column vectors back, written at their place in the A layout."""
    prims, lanes = [prim], ctx.lanes
    (pcu,), (pmu,) = ctx.units(prims, 1, 1)
    g0, count = start // lanes, end - start
    groups = (end - 1) // lanes - g0 + 1
    rows = groups * lanes
    builder = ctx.program().unit(pmu, PMUConfig(
        write=AddressGenConfig(base=0, bounds=(rows, 1, 1), strides=(1, 0, 0), lo=0,
                               hi=rows),
        read=AddressGenConfig(base=start - g0 * lanes, bounds=(count, 1, 1),
                              strides=(1, 0, 0), lo=0, hi=rows),
        write_layout=WriteLayout.DIAGONAL, read_layout=ReadLayout.TRANSPOSED))
    builder.unit(pcu, ctx.pcu(counters=counters(ctx.bound(prims, count, "vectors"))))
    out_flow = ctx.route(builder, [pmu, pcu])
    read = Stream(READ, 0, prim.inputs[0], ti * lanes * row_beats + g0, (lanes, groups, 1),
                  (row_beats, 1, 0))
    write = linear(WRITE, out_flow, prim.output,
                   plan.a_index(chunk, ti) + start - chunk * plan.kc, count)
    return ctx.kernel(prims, builder, (read, write), 2,
                      f"{op_name(prims)} tile row {ti} columns {start}..{end - 1}")
