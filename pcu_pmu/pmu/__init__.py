"""Pattern Memory Unit: banked SRAM scratchpad with affine write/read address generators."""

from .config import (
    CONFIG_BYTES,
    CONFIG_WORDS,
    AddressGenConfig,
    PMUConfig,
    PMUConfigLayout,
    Port,
    ReadLayout,
    WriteLayout,
)
from .params import PMUParams

__all__ = [
    "CONFIG_BYTES", "CONFIG_WORDS", "AddressGenConfig", "PMUConfig", "PMUConfigLayout",
    "PMUParams", "Port", "ReadLayout", "WriteLayout",
]
