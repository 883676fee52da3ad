"""GEMM kernels: ``gemm_chunk`` (a PMU holds the packed A | B operand words, the
systolic PCU multiplies, slots after it take the result, a reduction's behind a PMU
that puts the output rows in order; in spatial mode a chain may make the A operand
on chip) and ``a_layout`` (an A operand made on the device, transposed into the A
layout by a PMU). The tiling is the :class:`~..layout.GemmPlan` lowering chose."""

from hdl.agcu.arguments import READ, WRITE
from hdl.rdu.config import UnitKind
from pcu_pmu.pcu.config import CounterConfig, Mode
from pcu_pmu.pmu.config import AddressGenConfig, PMUConfig, ReadLayout, WriteLayout
from testbench.runtime.program import AGCU

from ..kernel import Kernel, Stream
from ..kinds import OpKind
from ..layout import GemmPlan, beats_per_row
from ..placement import pcu_slots
from .common import KernelContext, ResourceError, counters, linear, op_name, ranges
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
    reads the packed words back).

    A chain that ends in a reduction takes whole rows: each kernel multiplies whole
    tile rows (:func:`_whole_row_batches`), as many as the PMU holds the operands of.
    Behind more than one tile column the reduction's PCU is buffered
    (``placement.Slot.buffered``): a second PMU takes each tile row's output tiles
    and reads them back row by row (:func:`_row_order`). A chain that feeds the A
    operand on chip (``placement.feeds_gemm``) runs in each tile row's first kernel
    (:func:`_feed`), one tile row per kernel. Such spatial groups have their units
    placed next to each other (``KernelContext.place``), the same units for all
    their kernels."""
    at = [prim.kind for prim in prims].index(OpKind.GEMM_CHUNK)
    feed = prims[:at]
    slots = pcu_slots(prims[at:], ctx.config.stages)
    units = _chain(ctx, prims, slots, feed)
    if slots[-1].reduces:
        return [_batch(ctx, prims, slots, units, ti, 0, count, True, tile_rows, feed)
                for ti, count, tile_rows in _whole_row_batches(ctx, prims, slots, feed)]
    kernels, staged_row = [], None
    for ti, tj, count in prims[at].attrs["plan"].batches():
        stage_a = ti != staged_row  # the tile row's first batch is its widest
        kernels.append(_batch(ctx, prims, slots, units, ti, tj, count, stage_a,
                              feed=feed if stage_a else ()))
        staged_row = ti
    return kernels


def _whole_row_batches(ctx: KernelContext, prims, slots, feed) -> list:
    """(first tile row, tile cols, tile rows) of each kernel of a chain that ends in a
    reduction: every tile column, and as many tile rows as the GEMM's PMU holds the
    operands of (one with a ``feed``); ResourceError if it does not hold one tile
    row's, or a buffered reduction's PMU one tile row of the output."""
    plan: GemmPlan = prims[len(feed)].attrs["plan"]
    depth, row_bytes = ctx.config.pmu_depth, ctx.config.vector_bits // 8
    holds = f"a PMU holds {depth} ({depth * row_bytes} bytes)"
    operands = plan.tile_cols * plan.kc
    if operands > depth:
        raise ResourceError(f"{op_name(prims)}: PMU buffer overflow, the reduction takes whole "
                            f"rows, so a kernel multiplies all {plan.tile_cols} tile columns, "
                            f"whose operands need {operands} PMU rows ({operands * row_bytes} "
                            f"bytes); {holds}")
    output = plan.tile_cols * ctx.lanes
    if any(slot.buffered for slot in slots) and output > depth:
        raise ResourceError(f"{op_name(prims)}: PMU buffer overflow, the PMU that puts the "
                            f"GEMM's rows in order holds a tile row of its output, {output} "
                            f"rows ({output * row_bytes} bytes); {holds}")
    per_kernel = 1 if feed else depth // operands
    return [(ti, plan.tile_cols, count) for ti, count in ranges(plan.tile_rows, per_kernel)]


def _row_order(ctx: KernelContext, count: int, tile_rows: int) -> PMUConfig:
    """A PMU that takes ``count`` output tiles of ``lanes`` rows each (row ``i`` of tile
    ``j`` to address ``i * count + j``) and reads them back in order: row by row, a
    row's ``count`` vectors one after another; one pass per tile row, double-buffered
    when two fit (the GEMM fills one while the reduction drains the other)."""
    rows = count * ctx.lanes
    return PMUConfig(
        write=AddressGenConfig(base=0, bounds=(ctx.lanes, count, 1), strides=(count, 1, 0),
                               lo=0, hi=rows),
        read=AddressGenConfig(base=0, bounds=(rows, 1, 1), strides=(1, 0, 0), lo=0, hi=rows),
        passes=tile_rows, n_buffers=2 if 2 * rows <= ctx.config.pmu_depth else 1)


def _chain(ctx: KernelContext, prims, slots, feed) -> list[int]:
    """The units of the chain: a feed's PCU and transposing PMU, the GEMM's PMU, the
    systolic PCU, then each slot's PCU (behind its PMU when it is buffered)."""
    if not feed and not any(slot.buffered for slot in slots):
        pcus, (pmu,) = ctx.units(prims, len(slots), 1)
        return [pmu, *pcus]
    kinds = [UnitKind.PCU, UnitKind.PMU] if feed else []
    kinds += [UnitKind.PMU, UnitKind.PCU]
    for slot in slots[1:]:
        kinds += [UnitKind.PMU, UnitKind.PCU] if slot.buffered else [UnitKind.PCU]
    return ctx.place(prims, kinds)


def _feed(ctx: KernelContext, builder, prims, feed, units, ti: int, count: int) -> Stream:
    """Configure the ``feed`` chain (placement.feeds_gemm) on its PCU and PMU ``units``
    to make tile row ``ti`` of the A operand; return the read of its input rows.

    The AGCU reads the tile row's real rows, the PCU makes their bf16 values (low
    halves), the PMU takes the ``lanes x lanes`` tiles they form (diagonal write) and
    reads columns ``0 .. k - 1`` back (transposed read: lane ``i`` of column ``k`` is
    row ``i``'s value), once per tile column of the batch: the A vectors in the order
    the GEMM's PMU stores them. A slack row's lanes hold stale values, which only
    reach the GEMM's slack output rows."""
    *chain, a_layout = feed
    plan: GemmPlan = a_layout.attrs["plan"]
    lanes, (pcu, pmu) = ctx.lanes, units
    row_beats = beats_per_row(plan.k, lanes)
    rows = min(lanes, plan.m - ti * lanes)
    add_slots(ctx, builder, prims, [pcu], pcu_slots(chain, ctx.config.stages),
              rows * row_beats, rows, row_beats)
    tiles = row_beats * lanes
    builder.unit(pmu, PMUConfig(
        write=AddressGenConfig(base=0, bounds=(row_beats, rows, 1), strides=(lanes, 1, 0),
                               lo=0, hi=tiles),
        read=AddressGenConfig(base=0, bounds=(plan.k, count, 1), strides=(1, 0, 0), lo=0,
                              hi=tiles),
        write_layout=WriteLayout.DIAGONAL, read_layout=ReadLayout.TRANSPOSED))
    return Stream(READ, 0, chain[0].inputs[0], ti * lanes * row_beats, (rows * row_beats, 1, 1),
                  (1, 0, 0), ordered=True)


def _batch(ctx: KernelContext, prims, slots, units: list, ti: int, tj: int, count: int,
           stage_a: bool, tile_rows: int = 1, feed=()) -> Kernel:
    """Tiles ``(ti .. ti + tile_rows - 1, tj .. tj + count - 1)`` of the chunk on the
    group's ``units`` (:func:`_chain`), after their A halves if ``stage_a``: from the
    AGCU, or made on chip by the ``feed`` chain.

    With a ``feed`` the GEMM's PMU takes two sources, in the order its write pattern
    needs through the tile's reorder buffer: the B halves from the AGCU (sequence
    numbers from 0), then the A halves from the feed's PMU (numbered on from there).
    The feed's read is ordered after B's, so A's first flit comes long after B's
    last and the two never hold each other up at the PMU's input."""
    head = next(prim for prim in prims if prim.kind == OpKind.GEMM_CHUNK)
    plan: GemmPlan = head.attrs["plan"]
    chunk = head.attrs["chunk"]
    at = prims.index(head)
    fed = 2 if at else 0  # the group's feed PCU and PMU come first
    pmu, systolic = units[fed:fed + 2]
    chain = units if feed else units[fed:]
    lanes, depth = ctx.lanes, ctx.config.pmu_depth
    rows = tile_rows * count * plan.kc
    # Local write addresses 0.. select the low (A) halves of rows 0.., depth.. the high
    # (B) halves: a batch that stages A writes both, A first (B first with a feed).
    if feed:
        halves = AddressGenConfig(base=depth, bounds=(rows, 2, 1), strides=(1, -depth, 0),
                                  lo=0, hi=2 * depth)
    else:
        halves = AddressGenConfig(base=0 if stage_a else depth,
                                  bounds=(rows, 2 if stage_a else 1, 1),
                                  strides=(1, depth, 0), lo=0, hi=2 * depth)
    dense = AddressGenConfig(base=0, bounds=(rows, 1, 1), strides=(1, 0, 0), lo=0, hi=rows)
    builder = ctx.program().unit(pmu, PMUConfig(write=halves, read=dense, half_write=True,
                                                reorder_input=bool(feed)))
    builder.unit(systolic, ctx.pcu(mode=Mode.SYSTOLIC, counters=(
        CounterConfig(bound=plan.kc), CounterConfig(bound=count),
        CounterConfig(bound=tile_rows))))
    rest, pcus = iter(units[fed + 2:]), []
    for slot in slots[1:]:
        if slot.buffered:
            builder.unit(next(rest), _row_order(ctx, count, tile_rows))
        pcus.append(next(rest))
    # a reduction's rows: lanes rows per tile row, of count vectors each
    add_slots(ctx, builder, prims, pcus, slots[1:], tile_rows * count * lanes,
              tile_rows * lanes, count)
    reduces = slots[-1].reduces
    # B's vectors for the batch's tiles, once per tile row (a stride-0 level)
    b_read = dict(buffer=head.attrs["b_buffer"], offset=plan.b_index(chunk, tj),
                  bounds=(count * plan.kc, tile_rows, 1), strides=(1, 0, 0))
    if feed:
        out_flow = ctx.route(prims, builder, chain, reduces, extra_flows=1,
                             first_seqs={units[1]: rows % 256})
        builder.flow(out_flow + 1, AGCU, [pmu])
        reads = (Stream(READ, out_flow + 1, **b_read),
                 _feed(ctx, builder, prims, feed, units[:2], ti, count))
    else:
        out_flow = ctx.route(prims, builder, chain, reduces)
        reads = (Stream(READ, 0, **b_read, ordered=stage_a),)
    if stage_a and not feed:  # each tile row's kc A vectors once per tile of the batch
        reads = (Stream(READ, 0, head.attrs["a_buffer"], plan.a_index(chunk, ti),
                        (plan.kc, count, tile_rows), (1, 0, plan.kc if tile_rows > 1 else 0)),
                 *reads)
    if reduces:  # one beat per row
        write = linear(WRITE, out_flow, prims[-1].output, ti * lanes, tile_rows * lanes)
    else:
        row_beats = plan.tile_cols
        write = Stream(WRITE, out_flow, prims[-1].output, ti * lanes * row_beats + tj,
                       (lanes, count, 1), (row_beats, 1, 0))
    last_row = f"..{ti + tile_rows - 1}" if tile_rows > 1 else ""
    return ctx.kernel(prims, builder, (*reads, write), len(chain),
                      f"{op_name(prims if feed else prims[at:])} tile ({ti}{last_row}, "
                      f"{tj}..{tj + count - 1}) chunk {chunk}")


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
    out_flow = ctx.route(prims, builder, [pmu, pcu])
    read = Stream(READ, 0, prim.inputs[0], ti * lanes * row_beats + g0, (lanes, groups, 1),
                  (row_beats, 1, 0))
    write = linear(WRITE, out_flow, prim.output,
                   plan.a_index(chunk, ti) + start - chunk * plan.kc, count)
    return ctx.kernel(prims, builder, (read, write), 2,
                      f"{op_name(prims)} tile row {ti} columns {start}..{end - 1}")
