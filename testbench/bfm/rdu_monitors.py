"""The performance-counter event count, the one per-cycle monitor an RDU testbench may
start (the test that checks the counters turns it on; the mesh and stage credit
checkers are sticky RTL levels, read after every host step)."""

import numpy as np
from cocotb.triggers import ReadOnly, RisingEdge

__all__ = ["count_counter_events"]


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
