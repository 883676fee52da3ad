"""PCU configurations shared by the multi-socket programs, with their golden models.

* :func:`scale_config`: ``y = x * scale`` on every lane (stage 0 FMUL by an immediate).
* :func:`pair_add_config`: the sum of each pair of consecutive vectors (stage 0 FACC
  over an innermost loop of 2, emitted on its last iteration): ``(-0 + u) + v``,
  which is ``u + v`` in binary32 for every ``u`` (``-0 + u == u``, NaN canonical).
"""

import numpy as np

from hdl.rdu.config import RDUParams
from pcu_pmu.pcu.config import CounterConfig, Emit, PCUConfig, Src, StageConfig, StageOp
from testbench.golden.pcu import run_program

__all__ = ["scale_config", "pair_add_config", "golden_vectors", "interleave"]


def _stages(config: RDUParams, first: StageConfig) -> tuple:
    return (first,) + (StageConfig(),) * (config.stages - 1)


def scale_config(config: RDUParams, vectors: int, scale_bits: int) -> PCUConfig:
    """``vectors`` vectors, each multiplied by the binary32 ``scale_bits``."""
    first = StageConfig(op=StageOp.FMUL, a=Src.PREV, b=Src.IMM, imm=scale_bits)
    return PCUConfig(lanes=config.lanes, stages=config.stages, stage=_stages(config, first),
                     counters=(CounterConfig(bound=vectors), CounterConfig(), CounterConfig()))


def pair_add_config(config: RDUParams, vectors: int) -> PCUConfig:
    """``vectors`` pairs in, ``vectors`` sums out."""
    return PCUConfig(lanes=config.lanes, stages=config.stages,
                     stage=_stages(config, StageConfig(op=StageOp.FACC)),
                     counters=(CounterConfig(bound=2), CounterConfig(bound=vectors),
                               CounterConfig()),
                     emit=Emit.INNER_LAST)


def interleave(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """u[0], v[0], u[1], v[1], ... (vectors x lanes words)."""
    return np.stack([u, v], axis=1).reshape(-1, u.shape[-1])


def golden_vectors(config: RDUParams, pcu_config: PCUConfig, vectors) -> np.ndarray:
    """The PCU golden model's vector outputs (uint32, n x lanes) for one pass."""
    vectors = np.asarray(vectors, np.uint32).reshape(-1, config.lanes)
    result = run_program(config.pcu_params(), [(pcu_config, vectors, [])])
    return np.asarray(result.vec_out, np.uint32).reshape(-1, config.lanes)
