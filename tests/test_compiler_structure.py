"""Kernel compiler structure, without simulation: every graph op is an explicit
:class:`Graph` method, every op and primitive kind is an :class:`OpKind`, and the
kernel builder table covers exactly the primitives lowering makes."""

import inspect

import pytest

from hdl.rdu.config import rdu_params
from testbench.compiler import CompileError, Graph, compile_graph
from testbench.compiler.graph import (
    BINARY_OPS,
    COL_OPS,
    CONST_OPS,
    REDUCE_OPS,
    ROW_OPS,
    UNARY_OPS,
)
from testbench.compiler.kernels import BUILDERS, KernelContext
from testbench.compiler.kinds import OpKind
from testbench.compiler.library import KERNEL_NAMES, kernel_graph
from testbench.compiler.lowering import PAIR_OPS, STAGE_PRIMS, Prim

SMALL = rdu_params("small")
GENERIC = {"binary": BINARY_OPS, "unary": UNARY_OPS, "reduce": REDUCE_OPS, "row_op": ROW_OPS,
           "col_op": COL_OPS}
GRAPH_OPS = ("gemm", *BINARY_OPS, *UNARY_OPS, *REDUCE_OPS, *ROW_OPS, *COL_OPS, *CONST_OPS,
             "square", "from_bf16")
# graph ops lowering always rewrites into other primitives (lowering.py's docstring)
REWRITTEN = {OpKind.GEMM, *(OpKind(k) for k in PAIR_OPS), *(OpKind(k) for k in COL_OPS),
             OpKind.SELECT}


def test_graph_has_an_explicit_documented_method_per_op():
    assert "__getattr__" not in vars(Graph)
    for kind in GRAPH_OPS:
        method = vars(Graph).get(kind)
        assert callable(method), kind
        assert inspect.getdoc(method), kind
        params = list(inspect.signature(method).parameters)
        assert params[0] == "self" and params[-1] == "name", (kind, params)


@pytest.mark.parametrize("generic, kinds", GENERIC.items())
def test_explicit_methods_make_the_ops_of_the_generic_ones(generic, kinds):
    for kind in kinds:
        explicit, reference = Graph(), Graph()
        for g in (explicit, reference):
            x = g.input("x", (3, 5))
            other = {"binary": ("y", (3, 5)), "row_op": ("s", (3, 1)),
                     "col_op": ("w", (1, 5))}.get(generic)
            args = (x,) if other is None else (x, g.input(*other))
        getattr(explicit, kind)(*args, "out")
        getattr(reference, generic)(kind, *args, "out")
        assert explicit.ops == reference.ops and explicit.tensors == reference.tensors, kind


def test_every_graph_op_and_primitive_is_an_op_kind():
    assert {OpKind(kind) for kind in GRAPH_OPS} <= set(OpKind)
    assert OpKind("row_sum") == "row_sum" and {OpKind.EXP: 1}["exp"] == 1
    assert f"{OpKind.GATHER_MAX}" == "gather_max"


def test_the_builder_table_covers_exactly_the_primitives():
    assert set(BUILDERS) == set(OpKind) - REWRITTEN
    for kind in STAGE_PRIMS:
        assert OpKind(kind) in BUILDERS


def test_every_library_kernel_compiles_through_the_table():
    seen = set()
    for name in KERNEL_NAMES:
        compiled = compile_graph(kernel_graph(name), rdu_params("tile2x2"), "unfused")
        seen |= {OpKind(group[0].kind) for group in compiled.groups}
    assert {OpKind.GEMM_CHUNK, OpKind.PAIR_OP, OpKind.UNTRANSPOSE, OpKind.BROADCAST,
            OpKind.ADD, OpKind.ROW_SUM, OpKind.ROW_MAX} <= seen


def test_a_group_without_a_builder_is_an_internal_error():
    context = KernelContext(SMALL, {}, BUILDERS, 4096)
    with pytest.raises(CompileError, match=r"internal error, no kernel builder for 'gemm'"):
        context.group([Prim("gemm", ("a", "b"), "c")])
