"""Many-to-one into a reordering PMU: two AGCU READ streams feed one PMU concurrently.

The host writes ``2 * beats`` vectors ``x``. READ stream A (flow 0) takes the
even rows ``x[0::2]``, stream B (flow 1) the odd rows ``x[1::2]``; both go to
the same PMU at once (single-beat requests, so their beats interleave on the
way). Sequence numbers: the PMU writes its flits in ``seq`` order, and each
stream numbers its beats consecutively from its descriptor's ``first_seq``: the
stream given ``first = "a"`` starts at 0, the other at ``beats``. With
``reorder_input`` the PMU therefore holds the first stream's rows, then the
other's; it reads them out densely to the AGCU (flow 2). All ``2 * beats``
flits fit the tile's reorder window, so no source can run a window ahead.
"""

import numpy as np

from hdl.agcu.arguments import READ, WRITE, StreamDescriptor, argument_words
from hdl.rdu.config import RDUParams, UnitKind
from hdl.tile.tile import REORDER_WINDOW
from pcu_pmu.pmu.config import AddressGenConfig, PMUConfig
from testbench.runtime.program import AGCU, ProgramBuilder, ProgramError

__all__ = ["reorder_program", "reorder_arguments", "reorder_golden"]


def _pmu(config: RDUParams) -> int:
    return [kind for kind, _ in config.units()].index(UnitKind.PMU)


def reorder_program(config: RDUParams, beats: int, reorder: bool = True):
    """Image: flows 0 and 1 from the AGCU into the first PMU, flow 2 back to the AGCU."""
    rows = 2 * beats
    if rows > REORDER_WINDOW:
        raise ProgramError(f"{rows} flits exceed the reorder window of {REORDER_WINDOW}")
    dense = AddressGenConfig(base=0, bounds=(rows, 1, 1), strides=(1, 0, 0), lo=0, hi=rows)
    pmu = _pmu(config)
    return (ProgramBuilder(config)
            .flow(0, AGCU, [pmu]).flow(1, AGCU, [pmu]).flow(2, pmu, [AGCU])
            .unit(pmu, PMUConfig(write=dense, read=dense, reorder_input=reorder))
            .done_tokens([pmu])
            .build())


def reorder_arguments(config: RDUParams, x: int, out: int, beats: int,
                      first: str = "a") -> list[int]:
    """READ A = even rows, READ B = odd rows (stride 2 beats: one beat per request)."""
    beat = config.vector_bits // 8
    seq_a, seq_b = (0, beats) if first == "a" else (beats, 0)
    return argument_words([
        StreamDescriptor(READ, 0, x, (beats, 1, 1), (2, 0, 0), first_seq=seq_a),
        StreamDescriptor(READ, 1, x + beat, (beats, 1, 1), (2, 0, 0), first_seq=seq_b),
        StreamDescriptor(WRITE, 2, out, (2 * beats, 1, 1), (1, 0, 0)),
    ], done_tokens=1)


def reorder_golden(x: np.ndarray, first: str = "a") -> np.ndarray:
    """The PMU's rows in seq order: the first-numbered stream's rows, then the other's."""
    x = np.asarray(x, np.uint32)
    a, b = x[0::2], x[1::2]
    return np.concatenate([a, b] if first == "a" else [b, a]).astype(np.uint32)
