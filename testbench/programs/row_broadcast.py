"""Per-row scalar broadcast on one PCU: ``out[r, :] = x[r, :] (op) s[r]``.

What softmax and the norms need after a row reduction: the AGCU streams ``x``
on the vector fabric (flow 0) and the per-row scalars ``s`` on the scalar fabric
(flow 1; each ``s`` beat holds the value in lane 0, as a reduction writes it).
The PCU takes one scalar per innermost loop (``use_scalar``; the loop runs over
the ``row_beats`` beats of one row) and stage 0 applies ``op`` with operand b =
SCALAR, i.e. the row's scalar in every lane.
"""

import numpy as np

from hdl.agcu.arguments import READ, WRITE, StreamDescriptor, argument_words
from hdl.rdu.config import RDUParams
from pcu_pmu.pcu.config import CounterConfig, PCUConfig, Src, StageConfig, StageOp
from testbench.golden.pcu import run_program
from testbench.runtime.program import AGCU, ProgramBuilder

from .vector_add import pcus

__all__ = ["broadcast_program", "broadcast_arguments", "broadcast_golden"]


def _pcu_config(config: RDUParams, rows: int, row_beats: int, op: StageOp) -> PCUConfig:
    stages = [StageConfig(op=op, a=Src.PREV, b=Src.SCALAR)] + [StageConfig()] * (config.stages - 1)
    return PCUConfig(lanes=config.lanes, stages=config.stages, stage=tuple(stages),
                     use_scalar=True,
                     counters=(CounterConfig(bound=row_beats), CounterConfig(bound=rows),
                               CounterConfig()))


def broadcast_program(config: RDUParams, rows: int, row_beats: int,
                      op: StageOp = StageOp.FSUB):
    (pcu,) = pcus(config, 1)
    return (ProgramBuilder(config)
            .flow(0, AGCU, [pcu]).flow(1, AGCU, [pcu], fabric="scalar").flow(2, pcu, [AGCU])
            .unit(pcu, _pcu_config(config, rows, row_beats, op))
            .done_tokens([pcu])
            .build())


def broadcast_arguments(config: RDUParams, x: int, s: int, out: int, rows: int,
                        row_beats: int) -> list[int]:
    return argument_words([
        StreamDescriptor(READ, 0, x, (rows * row_beats, 1, 1), (1, 0, 0)),
        StreamDescriptor(READ, 1, s, (rows, 1, 1), (1, 0, 0)),
        StreamDescriptor(WRITE, 2, out, (rows * row_beats, 1, 1), (1, 0, 0)),
    ], done_tokens=1)


def broadcast_golden(config: RDUParams, x: np.ndarray, s: np.ndarray, row_beats: int,
                     op: StageOp = StageOp.FSUB) -> np.ndarray:
    """Expected output words (rows * row_beats x lanes) for ``x`` (same shape) and ``s``
    (one word per row)."""
    x = np.asarray(x, np.uint32).reshape(-1, config.lanes)
    s = np.asarray(s, np.uint32).reshape(-1)
    result = run_program(config.pcu_params(),
                         [(_pcu_config(config, len(s), row_beats, op), x, s)])
    return np.asarray(result.vec_out, np.uint32).reshape(x.shape)
