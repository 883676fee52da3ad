"""AGCU commands: the record the host (or a schedule) hands to the AGCU."""

import enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from amaranth.lib import data

__all__ = ["Command", "command_layout"]


class Command(enum.IntEnum):
    """Command opcodes (the ``op`` field)."""

    PROGRAM_LOAD = 1     # stream `length` words at `addr` out of cfg_out
    ARGUMENT_LOAD = 2    # load `length` words at `addr` as the kernel's argument block
    KERNEL_EXECUTE = 3   # run the loaded stream descriptors to completion
    SCHEDULE = 4         # run `length` schedule entries at `addr` (4 words each)


def command_layout() -> "data.StructLayout":
    """``op`` (4 bits, :class:`Command`), ``addr`` (32, byte address), ``length`` (32)."""
    # Imported here: the host runtime reads this module in the simulator process,
    # which has no use for Amaranth (a fifth of a second to import).
    from amaranth.lib import data

    return data.StructLayout({"op": 4, "addr": 32, "length": 32})
