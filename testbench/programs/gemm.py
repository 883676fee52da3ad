"""GEMM on one PCU fed from a PMU: ``C_t = A_t @ B_t`` for ``tiles`` tiles of lanes x K x lanes.

The host packs each tile as K vectors (lane i of vector k: a[i][k] in bits
0-15, b[k][i] in bits 16-31, both bf16). The AGCU streams them into the PMU
(flow 0); the PMU buffers the whole batch and reads it out to the PCU (flow 1);
the PCU's systolic array accumulates each tile in fp32 over k in order and
sends its ``lanes`` rows back to the AGCU (flow 2). Done tokens: the PMU's
and the PCU's.
"""

import numpy as np

from hdl.agcu.arguments import READ, WRITE, StreamDescriptor, argument_words
from hdl.rdu.config import RDUParams, UnitKind
from pcu_pmu.pcu.config import CounterConfig, Mode, PCUConfig
from pcu_pmu.pmu.config import AddressGenConfig, PMUConfig
from testbench.golden.pcu import run_program
from testbench.runtime.program import AGCU, ProgramBuilder, ProgramError

__all__ = ["pack_tiles", "gemm_program", "gemm_arguments", "gemm_golden"]


def _units(config: RDUParams) -> tuple[int, int]:
    kinds = [kind for kind, _ in config.units()]
    if not config.systolic:
        raise ProgramError("the GEMM program needs PCUs with the systolic array (systolic=True)")
    return kinds.index(UnitKind.PMU), kinds.index(UnitKind.PCU)


def pack_tiles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Vectors (tiles*K x lanes uint32) for bf16 ``a`` (tiles x lanes x K) and ``b``
    (tiles x K x lanes)."""
    a, b = np.asarray(a, np.uint32), np.asarray(b, np.uint32)
    return (a.transpose(0, 2, 1) | (b << 16)).reshape(-1, a.shape[1]).astype(np.uint32)


def _pcu_config(config: RDUParams, k: int, tiles: int) -> PCUConfig:
    return PCUConfig(lanes=config.lanes, stages=config.stages, mode=Mode.SYSTOLIC,
                     counters=(CounterConfig(bound=k), CounterConfig(bound=tiles),
                               CounterConfig()))


def _pmu_config(rows: int) -> PMUConfig:
    dense = AddressGenConfig(base=0, bounds=(rows, 1, 1), strides=(1, 0, 0), lo=0, hi=rows)
    return PMUConfig(write=dense, read=dense)


def gemm_program(config: RDUParams, k: int, tiles: int):
    pmu, pcu = _units(config)
    if tiles * k > config.pmu_depth:
        raise ProgramError(f"{tiles} tiles of K={k} need {tiles * k} PMU rows; the PMU has "
                           f"{config.pmu_depth}")
    return (ProgramBuilder(config)
            .flow(0, AGCU, [pmu]).flow(1, pmu, [pcu]).flow(2, pcu, [AGCU])
            .unit(pmu, _pmu_config(tiles * k))
            .unit(pcu, _pcu_config(config, k, tiles))
            .done_tokens([pmu, pcu])
            .build())


def gemm_arguments(config: RDUParams, packed: int, out: int, k: int, tiles: int) -> list[int]:
    return argument_words([
        StreamDescriptor(READ, 0, packed, (tiles * k, 1, 1), (1, 0, 0)),
        StreamDescriptor(WRITE, 2, out, (tiles * config.lanes, 1, 1), (1, 0, 0)),
    ], done_tokens=2)


def gemm_golden(config: RDUParams, packed: np.ndarray, k: int, tiles: int) -> np.ndarray:
    """The C rows (tiles*lanes x lanes uint32) from the PCU golden model."""
    result = run_program(config.pcu_params(), [(_pcu_config(config, k, tiles), packed, [])])
    return np.array(result.vec_out, dtype=np.uint32)
