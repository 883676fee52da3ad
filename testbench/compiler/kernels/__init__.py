"""Kernel families: a group of primitives (placement.group_prims) -> its kernels.

:data:`BUILDERS` maps the :class:`~..kinds.OpKind` of a group's first primitive to
the builder of its family, ``builder(context, prims) -> [Kernel]``:

* :mod:`.gemm`: ``gemm_chunk`` (PMU + systolic PCU, then slots; in spatial mode also
  a group whose chain makes the GEMM's A operand first), ``a_layout``;
* :mod:`.pipeline`: PCU pipelines headed by ``add``, a unary op, a SIMD stage
  primitive (row ops, constants, ``square``, ``from_bf16``), ``row_sum`` or ``row_max``;
* :mod:`.pairs`: ``pair_op`` (alone, or fused with its ``untranspose`` and the chain
  after it) and ``untranspose`` (heading a chain);
* :mod:`.reductions`: the levels of a wide ``row_max`` (``vec_max``, ``gather_max``);
* :mod:`.broadcast`: a column op's ``broadcast``.

What they share (units, counters, flows, ranges, naming) is :mod:`.common`; the PCU
configuration of a pipeline slot is :mod:`.slots`.
"""

from ..graph import UNARY_OPS
from ..kinds import OpKind
from ..lowering import STAGE_PRIMS
from .broadcast import build_broadcast
from .common import KernelContext
from .gemm import build_a_layout, build_gemm
from .pairs import build_pair_op, build_untranspose
from .pipeline import build_pipeline
from .reductions import build_gather_max, build_vec_max

__all__ = ["BUILDERS", "KernelContext"]

BUILDERS = {
    OpKind.GEMM_CHUNK: build_gemm,
    OpKind.A_LAYOUT: build_a_layout,
    OpKind.PAIR_OP: build_pair_op,
    OpKind.UNTRANSPOSE: build_untranspose,
    OpKind.VEC_MAX: build_vec_max,
    OpKind.GATHER_MAX: build_gather_max,
    OpKind.BROADCAST: build_broadcast,
    **{OpKind(kind): build_pipeline
       for kind in (OpKind.ADD, OpKind.ROW_SUM, OpKind.ROW_MAX, *UNARY_OPS, *STAGE_PRIMS)},
}
