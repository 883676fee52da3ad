"""The cross-lane reduction tree, mapped onto the last log2(lanes) SIMD stages.

Order (fixed; the golden model reproduces it): at tree level ``l`` (stage
``stages - levels + l``) lane ``i`` combines lanes ``2i`` and ``2i+1`` of the
previous stage's output, ``op(lane 2i, lane 2i+1)`` with the lower lane as the
first operand, for ``i < lanes / 2`` (higher lanes see zeros). So level 0 pairs
(0,1), (2,3), ...; level 1 pairs the results of (0,1) and (2,3); and after
``log2(lanes)`` levels lane 0 holds the result, which leaves on ``scalar_out``.
SUM uses the bit-exact fp32 adder and MAX the fp32 compare unit of each stage, so
a tree costs no extra arithmetic; it needs ``stages >= log2(lanes) + 1`` so at
least one stage computes the values that get reduced.
"""

from amaranth.hdl import Mux

from .config import ReduceOp, Src, StageOp

__all__ = ["tree_levels", "tree_stage_range", "stage_controls"]


def tree_levels(lanes: int) -> int:
    """Levels of the full tree over ``lanes`` lanes (a power of two)."""
    return lanes.bit_length() - 1


def tree_stage_range(lanes: int, stages: int) -> range:
    """Stages that carry the tree when a reduction is on."""
    return range(max(0, stages - tree_levels(lanes)), stages)


def stage_controls(reduce, in_tree: bool, op, sel_a, sel_b, sel_c):
    """The (op, sel_a, sel_b, sel_c) a stage runs: its own, or the tree's when it carries it."""
    if not in_tree:
        return op, sel_a, sel_b, sel_c
    active = reduce != ReduceOp.NONE
    tree_op = Mux(reduce == ReduceOp.MAX, StageOp.FMAX, StageOp.FADD)
    return (Mux(active, tree_op, op), Mux(active, Src.PAIR_LO, sel_a),
            Mux(active, Src.PAIR_HI, sel_b), sel_c)
