"""Kernel compiler v1: a dataflow graph -> program images and argument blocks for the RDU."""

from .compiler import MODES, CompiledGraph, compile_graph
from .errors import CompileError
from .execute import (
    ORCHESTRATIONS,
    RunReport,
    collect_run,
    enqueue_run,
    host_buffers,
    run_compiled,
    stage_buffers,
)
from .golden import evaluate
from .graph import BF16, FP32, Graph

__all__ = ["BF16", "FP32", "MODES", "ORCHESTRATIONS", "CompileError", "CompiledGraph", "Graph",
           "RunReport", "collect_run", "compile_graph", "enqueue_run", "evaluate", "host_buffers",
           "run_compiled", "stage_buffers"]
