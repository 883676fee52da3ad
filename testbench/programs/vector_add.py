"""Vector add split across PCUs: ``out = a + b``, each PCU adding its share of the vectors.

The AGCU reads ``a`` and ``b`` interleaved (a[i], b[i], a[i+1], ...) with one
three-level pattern per PCU (level 0 steps from ``a`` to ``b``), and each PCU
accumulates the two vectors of each innermost loop (stage 0 FACC, emit on the
loop's last iteration), so its result is ``(-0 + a) + b = a + b`` in binary32.
"""

import numpy as np

from hdl.agcu.arguments import READ, WRITE, StreamDescriptor, argument_words
from hdl.rdu.config import RDUParams, UnitKind
from pcu_pmu.pcu.config import CounterConfig, Emit, PCUConfig, StageConfig, StageOp
from testbench.golden.pcu import run_program
from testbench.runtime.program import AGCU, ProgramBuilder

__all__ = ["pcus", "vector_add_program", "vector_add_arguments", "vector_add_golden"]


def pcus(config: RDUParams, count: int) -> list[int]:
    """The first ``count`` PCU unit indices of ``config``."""
    found = [i for i, (kind, _) in enumerate(config.units()) if kind == UnitKind.PCU]
    if len(found) < count:
        raise ValueError(f"the program needs {count} PCUs; this RDU has {len(found)}")
    return found[:count]


def _pcu_config(config: RDUParams, vectors: int) -> PCUConfig:
    stages = [StageConfig(op=StageOp.FACC)] + [StageConfig()] * (config.stages - 1)
    return PCUConfig(lanes=config.lanes, stages=config.stages, stage=tuple(stages),
                     counters=(CounterConfig(bound=2), CounterConfig(bound=vectors),
                               CounterConfig()),
                     emit=Emit.INNER_LAST)


def vector_add_program(config: RDUParams, vectors: int, units: int = 2):
    """Image for ``units`` PCUs adding ``vectors`` vectors each (flows 2k in, 2k+1 out)."""
    builder = ProgramBuilder(config)
    for k, unit in enumerate(pcus(config, units)):
        builder.flow(2 * k, AGCU, [unit]).flow(2 * k + 1, unit, [AGCU])
        builder.unit(unit, _pcu_config(config, vectors))
    return builder.done_tokens(pcus(config, units)).build()


def vector_add_arguments(config: RDUParams, a: int, b: int, out: int, vectors: int,
                         units: int = 2) -> list[int]:
    """Stream descriptors: PCU k adds vectors ``k*vectors .. (k+1)*vectors - 1``."""
    beat = config.vector_bits // 8
    if (b - a) % beat:
        raise ValueError("a and b must be a whole number of beats apart")
    gap = (b - a) // beat
    descriptors = []
    for k in range(units):
        first = k * vectors
        descriptors.append(StreamDescriptor(READ, 2 * k, a + first * beat,
                                            (2, vectors, 1), (gap, 1, 0)))
        descriptors.append(StreamDescriptor(WRITE, 2 * k + 1, out + first * beat,
                                            (vectors, 1, 1), (1, 0, 0)))
    return argument_words(descriptors, done_tokens=units)


def vector_add_golden(config: RDUParams, a: np.ndarray, b: np.ndarray, units: int = 2):
    """Expected output words (vectors x lanes uint32) from the PCU golden model."""
    a = np.asarray(a, np.uint32).reshape(-1, config.lanes)
    b = np.asarray(b, np.uint32).reshape(-1, config.lanes)
    vectors = len(a) // units
    outputs = []
    for k in range(units):
        share = slice(k * vectors, (k + 1) * vectors)
        interleaved = np.stack([a[share], b[share]], axis=1).reshape(-1, config.lanes)
        result = run_program(config.pcu_params(),
                             [(_pcu_config(config, vectors), interleaved, [])])
        outputs.extend(result.vec_out)
    return np.array(outputs, dtype=np.uint32)
