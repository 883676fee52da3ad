"""A lean AXI4-Lite master for 32-bit register accesses that never pause.

cocotbext-axi's ``AxiLiteMaster`` runs five channel coroutines, two command queues and
an event per access: a register write wakes Python about a dozen times. A host that
launches hundreds of kernels spends most of its Python time there. This port does the
same handshakes from the caller's own coroutine, one wake per clock edge while the
access is in flight, and with exactly the cycle timing of ``AxiLiteMaster`` whose
channels never pause: the request is driven at the first rising edge after the call,
each channel's valid drops at the edge its handshake is seen, and the call returns at
the edge the response is seen (``bready``/``rready`` are held high).

Tests of the host port itself, and every run with random channel pauses, keep
cocotbext-axi (see :class:`~testbench.runtime.transport.AxiTransport`).
"""

from cocotb.triggers import RisingEdge

__all__ = ["AxiLiteRegisterPort"]


class AxiLiteRegisterPort:
    """32-bit register writes and reads on the ``<prefix>_*`` AXI4-Lite ports of ``dut``.

    One access at a time (a host's register accesses are sequential). Responses are
    not checked, as ``AxiLiteMaster.write_dword``/``read_dword`` do not check them.
    """

    def __init__(self, dut, prefix: str = "s_axil"):
        def port(name):
            return getattr(dut, f"{prefix}_{name}")

        self._edge = RisingEdge(dut.clk)
        self._awaddr, self._awprot = port("awaddr"), port("awprot")
        self._awvalid, self._awready = port("awvalid"), port("awready")
        self._wdata, self._wstrb = port("wdata"), port("wstrb")
        self._wvalid, self._wready = port("wvalid"), port("wready")
        self._bvalid, self._bready = port("bvalid"), port("bready")
        self._araddr, self._arprot = port("araddr"), port("arprot")
        self._arvalid, self._arready = port("arvalid"), port("arready")
        self._rdata = port("rdata")
        self._rvalid, self._rready = port("rvalid"), port("rready")
        for valid in (self._awvalid, self._wvalid, self._arvalid):
            valid.value = 0
        self._bready.value = 1
        self._rready.value = 1

    async def write_register(self, offset: int, value: int) -> None:
        """Write the 32-bit ``value`` at byte ``offset``."""
        await self._edge
        self._awaddr.value, self._awprot.value, self._awvalid.value = offset, 0, 1
        self._wdata.value, self._wstrb.value, self._wvalid.value = value & 0xFFFF_FFFF, 0xF, 1
        address_pending = data_pending = True
        while True:
            await self._edge
            if address_pending and self._awready.value:
                address_pending, self._awvalid.value = False, 0
            if data_pending and self._wready.value:
                data_pending, self._wvalid.value = False, 0
            if self._bvalid.value:
                return

    async def read_register(self, offset: int) -> int:
        """The 32-bit register at byte ``offset``."""
        await self._edge
        self._araddr.value, self._arprot.value, self._arvalid.value = offset, 0, 1
        address_pending = True
        while True:
            await self._edge
            if address_pending and self._arready.value:
                address_pending, self._arvalid.value = False, 0
            if self._rvalid.value:
                return int(self._rdata.value)
