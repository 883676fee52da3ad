"""Cross-lane reduction on one PCU: one sum (or max) of the lanes of every input vector.

The PCU's last log2(lanes) stages carry its fixed reduction tree; each result
leaves on the scalar fabric (flow 1) to the AGCU, which writes it as one beat
with the value in lane 0 and zeros elsewhere.
"""

import numpy as np

from hdl.agcu.arguments import READ, WRITE, StreamDescriptor, argument_words
from hdl.rdu.config import RDUParams
from pcu_pmu.pcu.config import CounterConfig, PCUConfig, ReduceOp
from testbench.golden.pcu import run_program
from testbench.runtime.program import AGCU, ProgramBuilder

from .vector_add import pcus

__all__ = ["reduction_program", "reduction_arguments", "reduction_golden"]


def _pcu_config(config: RDUParams, vectors: int, op: ReduceOp) -> PCUConfig:
    return PCUConfig(lanes=config.lanes, stages=config.stages, reduce=op,
                     counters=(CounterConfig(bound=vectors), CounterConfig(), CounterConfig()))


def reduction_program(config: RDUParams, vectors: int, op: ReduceOp = ReduceOp.SUM):
    (pcu,) = pcus(config, 1)
    return (ProgramBuilder(config)
            .flow(0, AGCU, [pcu]).flow(1, pcu, [AGCU], fabric="scalar")
            .unit(pcu, _pcu_config(config, vectors, op))
            .done_tokens([pcu])
            .build())


def reduction_arguments(config: RDUParams, x: int, out: int, vectors: int) -> list[int]:
    return argument_words([
        StreamDescriptor(READ, 0, x, (vectors, 1, 1), (1, 0, 0)),
        StreamDescriptor(WRITE, 1, out, (vectors, 1, 1), (1, 0, 0)),
    ], done_tokens=1)


def reduction_golden(config: RDUParams, x: np.ndarray, op: ReduceOp = ReduceOp.SUM):
    """Expected beats (vectors x lanes uint32): the reduction in lane 0, zeros elsewhere."""
    x = np.asarray(x, np.uint32).reshape(-1, config.lanes)
    result = run_program(config.pcu_params(), [(_pcu_config(config, len(x), op), x, [])])
    beats = np.zeros_like(x)
    beats[:, 0] = result.scalar_out
    return beats
