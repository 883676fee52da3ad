"""Pair ops (``sub``/``mul``/``max``/``min`` and a repad's ``select``, see
lowering._lower_pair_op): the AGCU interleaves the operands' vectors, a PMU transposes
the tiles so a stage sees both operands in one vector (``pair_op``), and a second
PMU transposes the half-filled result tiles back (``untranspose``, which may head a
pipeline of slots). Fused, with two PMUs, both halves and the chain after them run
in one kernel per range of tiles (:func:`build_pair_op`)."""

from hdl.agcu.arguments import READ, WRITE
from pcu_pmu.pcu.config import Src, StageConfig, StageOp

from ..kernel import Kernel, Stream
from ..kinds import OpKind
from ..placement import pcu_slots
from .common import KernelContext, counters, linear
from .slots import add_slots

__all__ = ["PAIR_STAGE_OPS", "build_pair_op", "build_untranspose"]

PAIR_STAGE_OPS = {OpKind.SUB: StageOp.FSUB, OpKind.MUL: StageOp.FMUL, OpKind.MAX: StageOp.FMAX,
                  OpKind.MIN: StageOp.FMIN}


def build_pair_op(ctx: KernelContext, prims) -> list[Kernel]:
    """A ``pair_op`` alone: one kernel per range of tiles; a fused pair op (its
    ``untranspose`` and the chain after it in the group): :func:`_pair_chain`."""
    if len(prims) > 1:
        return _pair_chain(ctx, prims)
    (prim,) = prims
    return ctx.split(lambda first, groups: _pair_op_part(ctx, prim, first, groups),
                     ctx.tile_ranges(prim.attrs["groups"]), "tiles")


def build_untranspose(ctx: KernelContext, prims) -> list[Kernel]:
    """An ``untranspose`` and the chain of slots after it, one kernel per range of tiles."""
    slots = pcu_slots(prims, ctx.config.stages)
    return ctx.split(lambda first, groups: _untranspose_part(ctx, prims, slots, first, groups),
                     ctx.tile_ranges(prims[0].attrs["groups"]), "tiles")


def _pair_stages(ctx: KernelContext, prim) -> tuple:
    """The stages of a pair op's PCU: stage 0 applies the op to PAIR_LO, PAIR_HI."""
    if prim.attrs["op"] == OpKind.SELECT:  # mask (PAIR_HI) != 0 ? x (PAIR_LO) : the padding
        first_stage = StageConfig(op=StageOp.SEL, a=Src.PAIR_LO, b=Src.IMM, c=Src.PAIR_HI,
                                  imm=prim.attrs["pad"])
    else:
        first_stage = StageConfig(op=PAIR_STAGE_OPS[prim.attrs["op"]], a=Src.PAIR_LO,
                                  b=Src.PAIR_HI)
    return (first_stage,) + (StageConfig(),) * (ctx.config.stages - 1)


def _pairs_program(ctx: KernelContext, prim, pmu: int, pcu: int, groups: int):
    """A program whose PMU ``pmu`` transposes ``groups`` tiles of interleaved operand
    pairs and whose PCU ``pcu`` applies the op to each column."""
    builder = ctx.program().unit(pmu, ctx.transposer(groups, ctx.lanes))
    return builder.unit(pcu, ctx.pcu(stage=_pair_stages(ctx, prim),
                                     counters=counters(groups * ctx.lanes)))


def _pairs_read(prim, first: int, groups: int, half: int) -> Stream:
    """(a_j, b_j) interleaved, ``half`` pairs per tile, from tile ``first``."""
    a, b = prim.inputs
    return Stream(READ, 0, a, first * half, (2, half, groups), (b, 1, half))


def _pair_op_part(ctx: KernelContext, prim, first: int, groups: int) -> Kernel:
    """AGCU (a_j, b_j interleaved) -> PMU (transpose) -> PCU (op on PAIR_LO, PAIR_HI)."""
    prims, lanes = [prim], ctx.lanes
    (pcu,), (pmu,) = ctx.units(prims, 1, 1)
    builder = _pairs_program(ctx, prim, pmu, pcu, groups)
    out_flow = ctx.route(prims, builder, [pmu, pcu])
    write = linear(WRITE, out_flow, prim.output, first * lanes, groups * lanes)
    return ctx.kernel(prims, builder, (_pairs_read(prim, first, groups, lanes // 2), write), 2)


def _pair_chain(ctx: KernelContext, prims) -> list[Kernel]:
    """A fused pair op: ``pair_op``, its ``untranspose`` and the chain after it in one
    kernel per range of tiles, the pairs passed PCU -> PMU on chip instead of through
    device memory; with fewer than 2 PMUs (or PCUs for the chain), two kernel groups
    as unfused."""
    head, chain = prims[0], prims[1:]
    slots = pcu_slots(chain, ctx.config.stages)
    if len(ctx.pmus) < 2 or len(ctx.pcus) < 1 + len(slots):
        return build_pair_op(ctx, [head]) + ctx.group(chain)
    return ctx.split(lambda first, groups: _pair_chain_part(ctx, prims, slots, first, groups),
                     ctx.tile_ranges(head.attrs["groups"]), "tiles")


def _pair_chain_part(ctx: KernelContext, prims, slots, first: int, groups: int) -> Kernel:
    """AGCU (a_j, b_j interleaved) -> PMU (transpose) -> PCU (op) -> PMU (transpose
    back) -> the chain's PCUs -> AGCU."""
    head, half = prims[0], ctx.lanes // 2
    pcus, (pmu_pairs, pmu_back) = ctx.units(prims, 1 + len(slots), 2)
    builder = _pairs_program(ctx, head, pmu_pairs, pcus[0], groups)
    builder.unit(pmu_back, ctx.transposer(groups, half))
    count = add_slots(ctx, builder, prims, pcus[1:], slots, groups * half, groups, 1)
    units = [pmu_pairs, pcus[0], pmu_back, *pcus[1:]]
    out_flow = ctx.route(prims, builder, units)
    write = linear(WRITE, out_flow, prims[-1].output, first * half, count)
    return ctx.kernel(prims, builder, (_pairs_read(head, first, groups, half), write),
                      len(units))


def _untranspose_part(ctx: KernelContext, prims, slots, first: int, groups: int) -> Kernel:
    """Tiles ``first ..``: the AGCU reads the result tiles, a PMU reads back their
    ``lanes / 2`` filled columns, the chain's PCUs follow. No reduction follows an
    untranspose (placement.pcu_slots: the slack of whole tiles would reach it), so the
    results leave on the vector fabric."""
    head, lanes, half = prims[0], ctx.lanes, ctx.lanes // 2
    pcus, (pmu,) = ctx.units(prims, len(slots), 1)
    builder = ctx.program().unit(pmu, ctx.transposer(groups, half))
    count = add_slots(ctx, builder, prims, pcus, slots, groups * half, groups, 1)
    out_flow = ctx.route(prims, builder, [pmu, *pcus])
    read = linear(READ, 0, head.inputs[0], first * lanes, groups * lanes)
    write = linear(WRITE, out_flow, prims[-1].output, first * half, count)
    return ctx.kernel(prims, builder, (read, write), 1 + len(pcus))
