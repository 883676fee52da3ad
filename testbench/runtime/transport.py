"""How the :class:`~testbench.runtime.runtime.Runtime` reaches an RDU's host port.

A transport has four coroutines: ``write_register(offset, value)`` and
``read_register(offset)`` on the AXI4-Lite registers (byte offsets),
``write_memory(address, data)`` and ``read_memory(address, nbytes)`` on device
memory (bytes). :class:`AxiTransport` drives the top's ``s_axil_*``/``s_axi_*``
ports with cocotbext-axi masters (the default); :class:`BridgeTransport` runs
the synchronous :class:`~testbench.fpga.rdu_client.RDUBridgeClient` (the code
that drives a board over its serial port) in a cocotb ``bridge`` thread, so the
same requests cross the simulated UART as bytes.
"""

import random

from testbench.bfm.axi_pauses import pause_axi_master

__all__ = ["AxiTransport", "BridgeTransport"]


class AxiTransport:
    """cocotbext-axi masters on the top's ``<prefix>s_axil_*`` and ``<prefix>s_axi_*`` ports
    (``prefix`` "": a single RDU top; ``"s<k>_"``: socket k of a system top).

    ``stall``: probability that a channel pauses in a cycle (seeded by ``seed``).
    """

    def __init__(self, dut, *, stall: float = 0.0, seed: int = 1, prefix: str = ""):
        from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiMaster

        self.control = AxiLiteMaster(AxiLiteBus.from_prefix(dut, prefix + "s_axil"), dut.clk,
                                     dut.rst)
        self.data = AxiMaster(AxiBus.from_prefix(dut, prefix + "s_axi"), dut.clk, dut.rst)
        for interface in (self.control.read_if, self.control.write_if, self.data.read_if,
                          self.data.write_if):
            interface.log.setLevel("WARNING")
        rng = random.Random(seed)
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


class BridgeTransport:
    """The board's host code (a synchronous ``RDUBridgeClient``), each call run in a
    cocotb ``bridge`` thread; its byte transport must block on the simulation
    (e.g. ``cocotb.task.resume`` around a UART wire model)."""

    def __init__(self, client):
        from cocotb.task import bridge

        self.client = client
        self._write_register = bridge(client.write_register)
        self._read_register = bridge(client.read_register)
        self._write_memory = bridge(client.write_memory)
        self._read_memory = bridge(client.read_memory)

    async def write_register(self, offset: int, value: int) -> None:
        await self._write_register(offset, value)

    async def read_register(self, offset: int) -> int:
        return await self._read_register(offset)

    async def write_memory(self, address: int, data: bytes) -> None:
        await self._write_memory(address, data)

    async def read_memory(self, address: int, nbytes: int) -> bytes:
        return await self._read_memory(address, nbytes)
