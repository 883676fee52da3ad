"""Host side of an RDU behind the FPGA's UART bridge (:mod:`hdl.fpga.bridged_rdu`).

Synchronous, over a :class:`~testbench.fpga.host_script.BridgeClient`: on a board
the client sits on a serial port (:func:`open_rdu`); in simulation its byte
transport blocks on a cocotb UART wire model and the calls run in a cocotb
``bridge`` thread (:class:`testbench.runtime.transport.BridgeTransport`).
The bridge's word map is :mod:`hdl.fpga.axi_bus_master`'s.
"""

import numpy as np

from .host_script import BridgeClient, BridgeError, open_serial

__all__ = ["RDUBridgeClient", "open_rdu", "LITE_BASE", "INFO_BASE", "MEMORY_BASE", "MAGIC"]

# hdl/fpga/axi_bus_master.py's map (bus word addresses); the host code does not import RTL.
LITE_BASE, INFO_BASE, MEMORY_BASE = 0x0000, 0x4000, 0x8000
INFO = {"MAGIC": 0, "INFO": 1, "ERRORS": 2}
MAGIC = 0x52445541
MEMORY_WINDOW_BYTES = 4 * 0x8000


class RDUBridgeClient:
    """The RDU's AXI4-Lite registers and device memory through the bridge, word by word."""

    def __init__(self, client: BridgeClient):
        self.client = client

    def check(self) -> dict:
        """Confirm an RDU is behind the bridge; its AXI widths and error count."""
        magic = self.client.read(INFO_BASE + INFO["MAGIC"])
        if magic != MAGIC:
            raise BridgeError(f"no RDU behind the bridge (magic 0x{magic:08x}, "
                              f"expected 0x{MAGIC:08x})")
        info = self.client.read(INFO_BASE + INFO["INFO"])
        return {"data_width": info & 0xFFFF, "lite_addr_width": info >> 16,
                "errors": self.errors()}

    def errors(self) -> int:
        """AXI responses other than OKAY the bridge has seen since reset."""
        return self.client.read(INFO_BASE + INFO["ERRORS"])

    def write_register(self, offset: int, value: int) -> None:
        self.client.write(LITE_BASE + _word(offset, "register offset"), value)

    def read_register(self, offset: int) -> int:
        return self.client.read(LITE_BASE + _word(offset, "register offset"))

    def write_memory(self, address: int, data: bytes) -> None:
        """Write ``data`` (a whole number of 32-bit words) at word-aligned ``address``."""
        words = np.frombuffer(bytes(data), dtype="<u4") if len(data) % 4 == 0 else None
        if words is None:
            raise ValueError(f"device memory writes are whole 32-bit words, not {len(data)} "
                             f"bytes")
        first = self._memory_word(address, len(data))
        for i, value in enumerate(words):
            self.client.write(first + i, int(value))

    def read_memory(self, address: int, nbytes: int) -> bytes:
        """``nbytes`` (a multiple of 4) of device memory from word-aligned ``address``."""
        if nbytes % 4:
            raise ValueError(f"device memory reads are whole 32-bit words, not {nbytes} bytes")
        first = self._memory_word(address, nbytes)
        words = [self.client.read(first + i) for i in range(nbytes // 4)]
        return np.asarray(words, dtype="<u4").tobytes()

    @staticmethod
    def _memory_word(address: int, nbytes: int) -> int:
        if address < 0 or address + nbytes > MEMORY_WINDOW_BYTES:
            raise ValueError(f"device memory [{address:#x}, {address + nbytes:#x}) is outside "
                             f"the bridge's {MEMORY_WINDOW_BYTES}-byte window")
        return MEMORY_BASE + _word(address, "device memory address")


def _word(byte_address: int, what: str) -> int:
    if byte_address % 4:
        raise ValueError(f"{what} {byte_address:#x} is not 32-bit aligned")
    return byte_address // 4


def open_rdu(device: str, baud: int = 115200, timeout: float = 1.0) -> RDUBridgeClient:
    """An RDU client on a board's serial port (requires pyserial); checks the magic."""
    rdu = RDUBridgeClient(open_serial(device, baud, timeout))
    rdu.check()
    return rdu
