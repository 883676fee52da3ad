"""Passive monitors every RDU-top testbench starts: the mesh credit checker and the
performance-counter event count."""

import numpy as np
from cocotb.triggers import ReadOnly, RisingEdge

__all__ = ["watch_credit_error", "count_counter_events"]


async def watch_credit_error(dut, flag: list):
    """Append ``True`` to ``flag`` (and stop) the first cycle ``credit_error`` is high."""
    while True:
        await RisingEdge(dut.clk)
        if dut.credit_error.value:
            flag.append(True)
            return


async def count_counter_events(dut, counts: np.ndarray):
    """Count every cycle each performance counter should count, from ``counter_events``."""
    width = counts.size
    while True:
        await RisingEdge(dut.clk)
        await ReadOnly()
        events = int(dut.counter_events.value)
        for bit in range(width):
            if events >> bit & 1:
                counts.flat[bit] += 1
