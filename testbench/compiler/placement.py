"""Fusion and placement: primitives -> groups (one kernel shape each) -> PCU slots.

A group is a chain of primitives where each one after the first reads only its
predecessor's output, which nothing else reads and which is not a graph output.
Unfused mode makes every primitive its own group. Fused mode grows a group while
its primitives still pack onto a PCU pipeline (:func:`pcu_slots`) whose PCUs
stream straight into each other; spatial mode also accepts a pipeline with a PMU
buffer between two of its PCUs (a *buffered* slot):

* one PCU per body: ``add`` (stage 0 accumulates the two operand beats),
  ``row_sum`` (stage 0 accumulates the row's vectors, the tree sums the lanes),
  ``row_max`` (the tree), ``gemm_chunk`` (the systolic array, behind a PMU);
* a unary op rides on the tail of the PCU before it when that tail is free and the
  PCU is not systolic, else it takes a PCU of its own (stages PASS);
* a reduction's PCU ends the chain (its results leave on the scalar fabric);
* a reduction after a ``gemm_chunk`` of more than one tile column is buffered: the
  systolic PCU emits its output tile by tile (the ``lanes`` rows of one tile column,
  then the next), so a PMU gathers the tile row and hands it on row by row, a row's
  vectors one after another as the reduction takes them (spatial mode only; fused
  mode ends the group before such a reduction);
* a ``pair_op`` and its ``untranspose`` share a group (one kernel through two PMUs
  when the RDU has them, see ``kernels.pairs``), and the chain grows on
  from the ``untranspose``;
* stage primitives (``row_add``/``row_sub``/``row_mul``, ``scale``, ``add_const``,
  ``square``: one SIMD stage each) share a PCU, in stage order, while its stages last,
  and a unary op may ride on that PCU's tail; a group holding stage primitives stays on
  one PCU (they never open a second one), and a row op (its scalars come from memory)
  only heads a group.

Spatial mode starts from fused mode's groups and joins a group to the one whose
last output it reads where only spatial mode can, if the joined group's kernels can
be built on the RDU (the ``fits`` callable of :func:`group_prims`: the kernel
builders decide, see ``KernelContext.fits``); elsewhere the groups stay cut where
fused mode cuts them, so what fused mode compiles spatial mode compiles too. It
joins a reduction's group to the ``gemm_chunk`` group before it when the pipeline
buffers the reduction, and feeds a GEMM's A operand on chip (:func:`feeds_gemm`):
a chain on one PCU that makes it (ending in ``to_bf16``), its ``a_layout`` (a PMU
transposes the rows into A vectors) and the ``gemm_chunk``'s group.
"""

from dataclasses import dataclass, field

from .graph import ROW_OPS, UNARY_OPS
from .lowering import STAGE_PRIMS, Prim

__all__ = ["Slot", "pcu_slots", "group_prims", "feeds_gemm", "PIPELINE_HEADS"]

PIPELINE_HEADS = ("add", "gemm_chunk", "untranspose", "row_sum", "row_max", *UNARY_OPS,
                  *STAGE_PRIMS)
# Heads of a chain that feeds a GEMM's A operand: one stream from memory, no scalars.
_FEED_HEADS = (*UNARY_OPS, "scale", "add_const", "square", "from_bf16")
_BODIES = ("add", "row_sum", "row_max", "gemm_chunk", "untranspose")
_READS_MEMORY = ("add", "gemm_chunk", "untranspose")


@dataclass
class Slot:
    """One PCU of a pipeline: an optional body primitive, or stage primitives (stages
    0, 1, ...), and an optional tail primitive. ``buffered``: a PMU in front of the PCU
    puts the GEMM's output rows in order (see the module docstring)."""

    body: Prim | None = None
    tail: Prim | None = None
    stages: list = field(default_factory=list)
    buffered: bool = False

    @property
    def reduces(self) -> bool:
        return self.body is not None and self.body.kind in ("row_sum", "row_max")


def pcu_slots(prims, stages: int | None = None) -> list[Slot] | None:
    """The PCU pipeline for a chain of primitives, or None if it cannot be one.

    ``stages``: SIMD stages per PCU (None: unlimited)."""
    slots: list[Slot] = []
    for index, prim in enumerate(prims):
        if prim.kind in STAGE_PRIMS:
            if prim.kind in ROW_OPS and index:
                return None
            last = slots[-1] if slots else None
            if last is None:
                slots.append(Slot(stages=[prim]))
            elif (last.stages and last.tail is None
                  and (stages is None or len(last.stages) < stages)):
                last.stages.append(prim)
            else:
                return None
            continue
        if slots and slots[-1].reduces and (prim.kind not in UNARY_OPS or slots[-1].tail):
            return None
        if prim.kind in _BODIES:
            if prim.kind in _READS_MEMORY and index:
                return None  # they read device memory: only a chain's head can
            if prim.kind in ("row_sum", "row_max") and prims[0].kind == "untranspose":
                return None  # its vector count includes the slack of whole tiles
            slots.append(Slot(body=prim, buffered=prim.kind in ("row_sum", "row_max")
                              and prims[0].kind == "gemm_chunk"
                              and prims[0].attrs["plan"].tile_cols > 1))
        elif prim.kind in UNARY_OPS:
            last = slots[-1] if slots else None
            if last and last.tail is None and not (last.body and last.body.kind == "gemm_chunk"):
                last.tail = prim
            else:
                slots.append(Slot(tail=prim))
        else:
            return None
    if len(slots) > 1 and any(slot.stages for slot in slots):
        return None
    return slots


def feeds_gemm(prims, stages: int | None = None) -> bool:
    """Whether ``prims`` (a group so far) is a chain on one PCU, ending in ``to_bf16``,
    and the ``a_layout`` of its result: what may feed a GEMM's A operand on chip."""
    *chain, last = prims
    if last.kind != "a_layout" or not chain or chain[0].kind not in _FEED_HEADS:
        return False
    slots = pcu_slots(chain, stages)
    return slots is not None and len(slots) == 1 and chain[-1].kind == "to_bf16"


def _reads(prim) -> tuple:
    """The tensors a primitive reads: a ``gemm_chunk`` reads its operand buffers."""
    if prim.kind == "gemm_chunk":
        return prim.attrs["a_buffer"], prim.attrs["b_buffer"]
    return prim.inputs


def _pipeline(group: list) -> list:
    """The part of a group that later primitives extend as a PCU pipeline: from its
    ``gemm_chunk`` on, or after a pair op (its ``untranspose`` on), else all of it."""
    kinds = [prim.kind for prim in group]
    if "gemm_chunk" in kinds:
        return group[kinds.index("gemm_chunk"):]
    return group[1:] if kinds[0] == "pair_op" else group


def _link(group, readers, graph_outputs) -> bool:
    """Whether ``group``'s last output may stay on chip: one primitive reads it and it
    is not a graph output."""
    source = group[-1].output
    return readers.get(source) == 1 and source not in graph_outputs


def _joins(group, prim, readers, graph_outputs, stages) -> bool:
    """Whether ``prim`` extends ``group`` (whose last output it reads) in fused mode."""
    chain = _pipeline(group)
    if (not _link(group, readers, graph_outputs) or len(prim.inputs) != 1
            or [*chain, prim][0].kind not in PIPELINE_HEADS):
        return False
    slots = pcu_slots([*chain, prim], stages)
    return slots is not None and not any(slot.buffered for slot in slots)


def _spatial_join(out, group, readers, graph_outputs, stages, fits) -> bool:
    """Join fused ``group`` to the group of ``out`` whose last output it reads, if only
    spatial mode can and the joined group fits; whether it did."""
    def producer(name):
        return next((i for i, g in enumerate(out) if g[-1].output == name), None)

    head = group[0]
    at = producer(_reads(head)[0])
    if at is None or not _link(out[at], readers, graph_outputs):
        return False
    before = out[at]
    if head.kind == "gemm_chunk":  # a feed chain, its a_layout, the GEMM's group
        if [prim.kind for prim in before] != ["a_layout"]:
            return False
        feed_at = producer(before[0].inputs[0])
        if feed_at is None or not _link(out[feed_at], readers, graph_outputs):
            return False
        feed = out[feed_at]
        joined = [*feed, *before, *group]
        if not feeds_gemm([*feed, *before], stages) or not fits(joined):
            return False
        out[feed_at] = joined
        del out[at]
        return True
    chain = [*_pipeline(before), *group]
    if len(head.inputs) != 1 or chain[0].kind not in PIPELINE_HEADS:
        return False
    slots = pcu_slots(chain, stages)
    if slots is None or not any(slot.buffered for slot in slots) or not fits([*before, *group]):
        return False
    out[at] = [*before, *group]
    return True


def group_prims(prims, graph_outputs, mode: str, stages: int | None = None,
                fits=None) -> list[list[Prim]]:
    """Cut the primitives into kernel groups (in order) for ``mode`` (``unfused``,
    ``fused`` or ``spatial``); ``stages`` as for :func:`pcu_slots`. ``fits(group)``:
    whether a group only spatial mode builds can be built on the RDU (None: any)."""
    readers = {}
    for prim in prims:
        for name in _reads(prim):
            readers[name] = readers.get(name, 0) + 1
    groups: list[list[Prim]] = []
    for prim in prims:
        if mode != "unfused":
            group = next((g for g in groups if g[-1].output == _reads(prim)[0]), None)
            if group and _joins(group, prim, readers, graph_outputs, stages):
                group.append(prim)
                continue
        groups.append([prim])
    if mode != "spatial":
        return groups
    fits = fits or (lambda group: True)
    joined: list[list[Prim]] = []
    for group in groups:
        if not _spatial_join(joined, group, readers, graph_outputs, stages, fits):
            joined.append(group)
    return joined
