"""How the :class:`~testbench.runtime.runtime.Runtime` reaches an RDU's host port.

A transport has four coroutines: ``write_register(offset, value)`` and
``read_register(offset)`` on the AXI4-Lite registers (byte offsets),
``write_memory(address, data)`` and ``read_memory(address, nbytes)`` on device
memory (bytes). :class:`AxiTransport` drives the top's ``s_axil_*``/``s_axi_*``
ports (the default): cocotbext-axi masters, except for registers on a host that
never pauses, which a lean port with the same timing serves; :class:`BridgeTransport` runs
the synchronous :class:`~testbench.fpga.rdu_client.RDUBridgeClient` (the code
that drives a board over its serial port) in a cocotb ``bridge`` thread, so the
same requests cross the simulated UART as bytes.
"""

import random

from testbench.bfm.axi_lite_register_port import AxiLiteRegisterPort
from testbench.bfm.axi_pauses import pause_axi_master

__all__ = ["AxiTransport", "BridgeTransport"]


class AxiTransport:
    """AXI masters on the top's ``<prefix>s_axil_*`` and ``<prefix>s_axi_*`` ports
    (``prefix`` "": a single RDU top; ``"s<k>_"``: socket k of a system top).

    ``stall``: probability that a channel pauses in a cycle (seeded by ``seed``). Device
    memory goes through cocotbext-axi's ``AxiMaster``; registers through its
    ``AxiLiteMaster`` when channels pause, else through the cycle-identical
    :class:`~testbench.bfm.axi_lite_register_port.AxiLiteRegisterPort`, which costs a
    fraction of the Python time per access.
    """

    def __init__(self, dut, *, stall: float = 0.0, seed: int = 1, prefix: str = ""):
        from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiMaster

        self.data = AxiMaster(AxiBus.from_prefix(dut, prefix + "s_axi"), dut.clk, dut.rst)
        interfaces = [self.data.read_if, self.data.write_if]
        rng = random.Random(seed)
        if stall:
            control = AxiLiteMaster(AxiLiteBus.from_prefix(dut, prefix + "s_axil"), dut.clk,
                                    dut.rst)
            interfaces += [control.read_if, control.write_if]
            pause_axi_master(control, rng, stall)
            self._write_register, self._read_register = control.write_dword, control.read_dword
        else:
            control = AxiLiteRegisterPort(dut, prefix + "s_axil")
            self._write_register = control.write_register
            self._read_register = control.read_register
        for interface in interfaces:
            interface.log.setLevel("WARNING")
        pause_axi_master(self.data, rng, stall)

    async def write_register(self, offset: int, value: int) -> None:
        await self._write_register(offset, value)

    async def read_register(self, offset: int) -> int:
        return await self._read_register(offset)

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
