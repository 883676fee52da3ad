"""Op kinds: the graph's ops (:mod:`.graph`) and the primitives lowering makes of them
(:mod:`.lowering`), as one enum.

:class:`OpKind` is a ``StrEnum``: a member equals, hashes and formats as its string, so
the ``kind`` strings of :class:`~.graph.Op` and :class:`~.lowering.Prim` compare equal
to members and find them in tables keyed by members (``TAIL_OPS["exp"]`` is
``TAIL_OPS[OpKind.EXP]``), and kernel names read the same either way.
"""

import enum

__all__ = ["OpKind"]


class OpKind(enum.StrEnum):
    """Every op and primitive kind the compiler knows."""

    # graph ops (see graph.py for their shapes and dtypes)
    GEMM = "gemm"
    ADD = "add"
    SUB = "sub"
    MUL = "mul"
    MAX = "max"
    MIN = "min"
    EXP = "exp"
    RECIPROCAL = "reciprocal"
    RSQRT = "rsqrt"
    SILU = "silu"
    GELU = "gelu"
    TO_BF16 = "to_bf16"
    ROW_SUM = "row_sum"
    ROW_MAX = "row_max"
    ROW_ADD = "row_add"
    ROW_SUB = "row_sub"
    ROW_MUL = "row_mul"
    COL_ADD = "col_add"
    COL_MUL = "col_mul"
    SCALE = "scale"
    ADD_CONST = "add_const"
    SQUARE = "square"
    FROM_BF16 = "from_bf16"
    # primitives lowering adds (see lowering.py)
    GEMM_CHUNK = "gemm_chunk"
    A_LAYOUT = "a_layout"
    VEC_MAX = "vec_max"
    GATHER_MAX = "gather_max"
    PAIR_OP = "pair_op"
    UNTRANSPOSE = "untranspose"
    BROADCAST = "broadcast"
    # the op of a repad's pair op (``Prim.attrs["op"]`` of a ``pair_op``), not a graph op
    SELECT = "select"
