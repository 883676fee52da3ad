"""The host port of one socket of a system top: cocotbext-axi masters on ``s<k>_*`` ports.

The same transport interface as :class:`testbench.runtime.transport.AxiTransport`
(which is fixed to the unprefixed ``s_axil_*`` / ``s_axi_*`` names of a single
RDU top), so a :class:`~testbench.runtime.runtime.Runtime` drives each socket
over its own host port.
"""

import random

from testbench.bfm.axi_pauses import pause_axi_master

__all__ = ["SocketTransport"]


class SocketTransport:
    """Registers and device memory of socket ``socket``; channels pause with probability
    ``stall`` per cycle (seeded by ``seed``)."""

    def __init__(self, dut, socket: int, *, stall: float = 0.0, seed: int = 1):
        from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiMaster

        prefix = f"s{socket}_"
        self.control = AxiLiteMaster(AxiLiteBus.from_prefix(dut, prefix + "s_axil"), dut.clk,
                                     dut.rst)
        self.data = AxiMaster(AxiBus.from_prefix(dut, prefix + "s_axi"), dut.clk, dut.rst)
        for interface in (self.control.read_if, self.control.write_if, self.data.read_if,
                          self.data.write_if):
            interface.log.setLevel("WARNING")
        rng = random.Random(seed * 1000 + socket)
        pause_axi_master(self.control, rng, stall)
        pause_axi_master(self.data, rng, stall)

    async def write_register(self, offset: int, value: int) -> None:
        await self.control.write_dword(offset, value)

    async def read_register(self, offset: int) -> int:
        return await self.control.read_dword(offset)

    async def write_memory(self, address: int, data: bytes) -> None:
        await self.data.write(address, data)

    async def read_memory(self, address: int, nbytes: int) -> bytes:
        return bytes((await self.data.read(address, nbytes)).data)
