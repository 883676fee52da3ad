"""Kernel compiler v1: a dataflow graph -> program images and argument blocks for the RDU."""

from .compiler import MODES, CompiledGraph, compile_graph
from .errors import CompileError
from .execute import ORCHESTRATIONS, RunReport, run_compiled
from .golden import evaluate
from .graph import BF16, FP32, Graph

__all__ = ["BF16", "FP32", "MODES", "ORCHESTRATIONS", "CompileError", "CompiledGraph", "Graph",
           "RunReport", "compile_graph", "evaluate", "run_compiled"]
