"""Counts clock cycles in a cocotb test, e.g. the length of one bus transaction."""

import cocotb
from cocotb.triggers import RisingEdge

__all__ = ["CycleCounter"]


class CycleCounter:
    """Counts rising edges of ``dut.clk`` from construction to :meth:`stop`."""

    def __init__(self, dut):
        self.cycles = 0
        self._task = cocotb.start_soon(self._count(dut))

    async def _count(self, dut):
        while True:
            await RisingEdge(dut.clk)
            self.cycles += 1

    def stop(self) -> int:
        self._task.cancel()
        return self.cycles
