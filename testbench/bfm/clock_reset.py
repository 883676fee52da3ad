"""Clock and reset for Amaranth designs (ports ``clk`` and ``rst``)."""

from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge

__all__ = ["CLOCK_PERIOD_NS", "start_clock_and_reset"]

CLOCK_PERIOD_NS = 10


async def start_clock_and_reset(dut, cycles: int = 2, impl: str | None = None):
    """Start a clock on ``dut.clk`` and hold ``dut.rst`` for ``cycles`` cycles.

    ``impl="gpi"`` toggles the clock inside the simulator (no Python per cycle; the
    players of long runs use it); cocotb's default is a Python coroutine, two Python
    wake-ups per cycle."""
    Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns", impl=impl).start()
    dut.rst.value = 1
    await ClockCycles(dut.clk, cycles)
    dut.rst.value = 0
    await RisingEdge(dut.clk)
