"""A two-stage PMU pipeline paced by credits on the control fabric.

AGCU -> producer PMU (flow 0) -> consumer PMU (flow 1) -> AGCU (flow 2), ``passes``
passes of ``rows`` vectors. The producer double-buffers (``n_buffers = 2``) and
copies each pass; the consumer has one buffer and reads each pass back in
reverse row order. With ``credits`` the producer sets ``read_credits`` with one
initial credit (the consumer's one buffer) and the control fabric routes the
consumer's pass tokens (one per buffer it has drained) to the producer's credit
line, so the producer sends pass ``k + 1`` only once the consumer has freed its
buffer; without, it sends as soon as its own buffer is full and the flits wait
in the network.
"""

import numpy as np

from hdl.agcu.arguments import READ, WRITE, StreamDescriptor, argument_words
from hdl.rdu.config import RDUParams, UnitKind
from pcu_pmu.pmu.config import AddressGenConfig, PMUConfig
from testbench.runtime.program import AGCU, ProgramBuilder, ProgramError

__all__ = ["credit_units", "credit_program", "credit_arguments", "credit_golden"]

CONSUMER_BUFFERS = 1


def credit_units(config: RDUParams) -> tuple[int, int]:
    """(producer, consumer): the first two PMUs."""
    found = [i for i, (kind, _) in enumerate(config.units()) if kind == UnitKind.PMU]
    if len(found) < 2:
        raise ProgramError(f"the credit pipeline needs two PMUs; this RDU has {len(found)}")
    return found[0], found[1]


def credit_program(config: RDUParams, rows: int, passes: int, credits: bool = True):
    producer, consumer = credit_units(config)
    dense = AddressGenConfig(base=0, bounds=(rows, 1, 1), strides=(1, 0, 0), lo=0, hi=rows)
    reverse = AddressGenConfig(base=rows - 1, bounds=(rows, 1, 1), strides=(-1, 0, 0),
                               lo=0, hi=rows)
    builder = (ProgramBuilder(config)
               .flow(0, AGCU, [producer]).flow(1, producer, [consumer])
               .flow(2, consumer, [AGCU])
               .unit(producer, PMUConfig(write=dense, read=dense, passes=passes, n_buffers=2,
                                         read_credits=credits,
                                         initial_credits=CONSUMER_BUFFERS if credits else 0))
               .unit(consumer, PMUConfig(write=dense, read=reverse, passes=passes,
                                         n_buffers=CONSUMER_BUFFERS))
               .done_tokens([producer, consumer]))
    if credits:
        builder.credits(producer, consumer)
    return builder.build()


def credit_arguments(config: RDUParams, x: int, out: int, rows: int, passes: int) -> list[int]:
    return argument_words([
        StreamDescriptor(READ, 0, x, (rows * passes, 1, 1), (1, 0, 0)),
        StreamDescriptor(WRITE, 2, out, (rows * passes, 1, 1), (1, 0, 0)),
    ], done_tokens=2)


def credit_golden(x: np.ndarray, rows: int, passes: int) -> np.ndarray:
    """Each pass's ``rows`` vectors in reverse order."""
    x = np.asarray(x, np.uint32).reshape(passes, rows, -1)
    return x[:, ::-1, :].reshape(passes * rows, -1).astype(np.uint32)
