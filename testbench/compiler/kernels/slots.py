"""PCU configurations of pipeline slots (:class:`~..placement.Slot`): a body (``add``,
``row_sum``, ``row_max``, or a pass), SIMD stage primitives, and a tail op. Shared by
every family that runs a chain of slots: pipelines, GEMMs (the slots after the
systolic PCU) and fused pair ops (the slots after the transpose back)."""

from pcu_pmu.pcu.config import (
    CounterConfig,
    Emit,
    ReduceOp,
    Src,
    StageConfig,
    StageOp,
    TailOp,
)

from ..kinds import OpKind
from ..placement import Slot
from .common import KernelContext, counters

__all__ = ["TAIL_OPS", "ROW_STAGE_OPS", "stage_config", "slot_config", "add_slots"]

TAIL_OPS = {OpKind.EXP: TailOp.EXP, OpKind.RECIPROCAL: TailOp.RECIP,
            OpKind.RSQRT: TailOp.RSQRT, OpKind.SILU: TailOp.SILU, OpKind.GELU: TailOp.GELU,
            OpKind.TO_BF16: TailOp.BF16}
# A row op's stage: op(PREV, SCALAR), the row's scalar taken with every vector.
ROW_STAGE_OPS = {OpKind.ROW_ADD: StageOp.FADD, OpKind.ROW_SUB: StageOp.FSUB,
                 OpKind.ROW_MUL: StageOp.FMUL}
# op(PREV, IMM), the constant in ``Prim.attrs["imm"]``
_IMM_STAGE_OPS = {OpKind.SCALE: StageOp.FMUL, OpKind.ADD_CONST: StageOp.FADD}
_FIXED_STAGES = {
    OpKind.SQUARE: StageConfig(op=StageOp.FMUL, a=Src.PREV, b=Src.PREV),
    # the bf16 bits (low half, as to_bf16 writes them) up
    OpKind.FROM_BF16: StageConfig(op=StageOp.ISHL, a=Src.PREV, b=Src.IMM, imm=16),
}


def stage_config(prim) -> StageConfig:
    """The SIMD stage of a stage primitive (lowering.STAGE_PRIMS)."""
    if prim.kind in ROW_STAGE_OPS:
        return StageConfig(op=ROW_STAGE_OPS[prim.kind], a=Src.PREV, b=Src.SCALAR)
    if prim.kind in _IMM_STAGE_OPS:
        return StageConfig(op=_IMM_STAGE_OPS[prim.kind], a=Src.PREV, b=Src.IMM,
                           imm=prim.attrs["imm"])
    return _FIXED_STAGES[prim.kind]


def slot_config(ctx: KernelContext, prims, slot: Slot, vectors: int, rows: int,
                row_beats: int):
    """(PCUConfig, vectors out) of one slot fed ``vectors`` vectors (``rows`` rows of
    ``row_beats`` beats, for a reduction)."""
    tail = TAIL_OPS[slot.tail.kind] if slot.tail else TailOp.PASS
    if slot.stages:
        return _stage_slot(ctx, prims, slot, tail, vectors)
    body = _BODIES.get(slot.body.kind if slot.body else None, _pass_body)
    return body(ctx, prims, tail, vectors, rows, row_beats)


def add_slots(ctx: KernelContext, builder, prims, units: list, slots: list, vectors: int,
              rows: int, row_beats: int) -> int:
    """Configure ``units`` as ``slots`` in order, the first fed ``vectors`` vectors;
    return the vectors the last one emits."""
    count = vectors
    for unit, slot in zip(units, slots, strict=True):
        pcu_config, count = slot_config(ctx, prims, slot, count, rows, row_beats)
        builder.unit(unit, pcu_config)
    return count


def _accumulate(ctx: KernelContext) -> tuple:
    """Stage 0 accumulates (FACC), the others pass."""
    return (StageConfig(op=StageOp.FACC),) + (StageConfig(),) * (ctx.config.stages - 1)


def _add_body(ctx, prims, tail, vectors, rows, row_beats):
    """``add``: stage 0 accumulates each pair of operand beats."""
    bound = ctx.bound(prims, vectors, "vectors")
    return ctx.pcu(stage=_accumulate(ctx), tail=tail, emit=Emit.INNER_LAST, counters=(
        CounterConfig(bound=2), CounterConfig(bound=bound), CounterConfig())), vectors


def _row_sum_body(ctx, prims, tail, vectors, rows, row_beats):
    """``row_sum``: stage 0 accumulates a row's vectors, the tree sums the lanes."""
    row_counters = (CounterConfig(bound=ctx.bound(prims, row_beats, "vectors per row")),
                    CounterConfig(bound=ctx.bound(prims, rows, "rows")), CounterConfig())
    return ctx.pcu(stage=_accumulate(ctx), tail=tail, emit=Emit.INNER_LAST,
                   reduce=ReduceOp.SUM, counters=row_counters), rows


def _row_max_body(ctx, prims, tail, vectors, rows, row_beats):
    """``row_max`` (of one vector per row): the tree."""
    return ctx.pcu(tail=tail, reduce=ReduceOp.MAX,
                   counters=counters(ctx.bound(prims, vectors, "vectors"))), rows


def _pass_body(ctx, prims, tail, vectors, rows, row_beats):
    """No body (or one whose work is done before the PCU): stages pass, the tail acts."""
    return ctx.pcu(tail=tail, counters=counters(ctx.bound(prims, vectors, "vectors"))), vectors


_BODIES = {OpKind.ADD: _add_body, OpKind.ROW_SUM: _row_sum_body, OpKind.ROW_MAX: _row_max_body}


def _stage_slot(ctx: KernelContext, prims, slot: Slot, tail, vectors: int):
    """A PCU running ``slot.stages`` in stages 0, 1, ...; a row op first takes one
    scalar with every vector (innermost loop of 1, see ``pipeline.row_op_streams``)."""
    stage = [stage_config(prim) for prim in slot.stages]
    stage += [StageConfig()] * (ctx.config.stages - len(stage))
    bound = ctx.bound(prims, vectors, "vectors")
    if slot.stages[0].kind in ROW_STAGE_OPS:
        loops = (CounterConfig(bound=1), CounterConfig(bound=bound), CounterConfig())
        return ctx.pcu(stage=tuple(stage), tail=tail, use_scalar=True, counters=loops), vectors
    return ctx.pcu(stage=tuple(stage), tail=tail, counters=counters(bound)), vectors
