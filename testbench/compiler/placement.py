"""Fusion and placement: primitives -> groups (one kernel shape each) -> PCU slots.

A group is a chain of primitives where each one after the first reads only its
predecessor's output, which nothing else reads and which is not a graph output.
Unfused mode makes every primitive its own group. Fused mode grows a group while
its primitives still pack onto a PCU pipeline (:func:`pcu_slots`):

* one PCU per body: ``add`` (stage 0 accumulates the two operand beats),
  ``row_sum`` (stage 0 accumulates the row's vectors, the tree sums the lanes),
  ``row_max`` (the tree), ``gemm_chunk`` (the systolic array, behind a PMU);
* a unary op rides on the tail of the PCU before it when that tail is free and the
  PCU is not systolic, else it takes a PCU of its own (stages PASS);
* a reduction's PCU ends the chain (its results leave on the scalar fabric);
* a ``pair_op`` and its ``untranspose`` share a group (one kernel through two PMUs
  when the RDU has them, see ``kernels.pairs``), and the chain grows on
  from the ``untranspose``;
* stage primitives (``row_add``/``row_sub``/``row_mul``, ``scale``, ``add_const``,
  ``square``: one SIMD stage each) share a PCU, in stage order, while its stages last,
  and a unary op may ride on that PCU's tail; a group holding stage primitives stays on
  one PCU (they never open a second one), and a row op (its scalars come from memory)
  only heads a group.
"""

from dataclasses import dataclass, field

from .graph import ROW_OPS, UNARY_OPS
from .lowering import STAGE_PRIMS, Prim

__all__ = ["Slot", "pcu_slots", "group_prims", "PIPELINE_HEADS"]

PIPELINE_HEADS = ("add", "gemm_chunk", "untranspose", "row_sum", "row_max", *UNARY_OPS,
                  *STAGE_PRIMS)
_BODIES = ("add", "row_sum", "row_max", "gemm_chunk", "untranspose")
_READS_MEMORY = ("add", "gemm_chunk", "untranspose")


@dataclass
class Slot:
    """One PCU of a pipeline: an optional body primitive, or stage primitives (stages
    0, 1, ...), and an optional tail primitive."""

    body: Prim | None = None
    tail: Prim | None = None
    stages: list = field(default_factory=list)

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
            slots.append(Slot(body=prim))
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


def group_prims(prims, graph_outputs, fused: bool,
                stages: int | None = None) -> list[list[Prim]]:
    """Cut the primitives into kernel groups (in order); ``stages`` as for :func:`pcu_slots`."""
    readers = {}
    for prim in prims:
        for name in prim.inputs:
            readers[name] = readers.get(name, 0) + 1
    groups: list[list[Prim]] = []
    for prim in prims:
        if fused and len(prim.inputs) == 1:
            source = prim.inputs[0]
            group = next((g for g in groups if g[-1].output == source), None)
            # A pair op's group carries on with its untranspose and the chain after it.
            chain = group[1:] if group and group[0].kind == "pair_op" else group
            if (group and readers.get(source) == 1 and source not in graph_outputs
                    and [*chain, prim][0].kind in PIPELINE_HEADS
                    and pcu_slots([*chain, prim], stages) is not None):
                group.append(prim)
                continue
        groups.append([prim])
    return groups
