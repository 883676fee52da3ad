"""Bus signatures: AXI4, AXI4-Lite and their flat top-level ports for cocotbext-axi;
the reset style of an emitted top (:mod:`.reset_style`).

The bottom layer of the project: it imports only amaranth, and every other
package (``hdl``, ``pcu_pmu``, ``memory_ctrl``) may import it.
"""

from .axi4 import BURST_INCR, RESP_DECERR, RESP_OKAY, RESP_SLVERR, AXI4Signature
from .axi4_lite import AXI4LiteSignature
from .flat_ports import FieldTableSignature, connect_flat, flat_members

__all__ = ["AXI4Signature", "AXI4LiteSignature", "BURST_INCR", "RESP_OKAY", "RESP_SLVERR",
           "RESP_DECERR", "FieldTableSignature", "flat_members", "connect_flat"]
