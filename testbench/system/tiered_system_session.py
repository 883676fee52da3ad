"""Plays a :class:`~.tiered_session.TieredSystemSession` on the system top (cocotb).

The player of :mod:`testbench.system.system_session` with one more per-socket step,
``copy`` (the socket's copy engine, through its runtime); everything else (phases,
fault monitors, outputs) is that player's.
"""

import cocotb
import numpy as np

from testbench.system import system_session as plain

_plain_play = plain._play


async def _play(runtime, socket: int, steps: list, arrays: dict, outputs: dict):
    for step in steps:
        if step["op"] == "copy":
            start = runtime.cycle
            cycles = await runtime.copy(step["src"], step["dst"], step["nbytes"])
            outputs[step["name"]] = np.array([cycles], dtype=np.int64)
            outputs[f"{step['name']}_window"] = np.array([start, runtime.cycle], np.int64)
        else:
            await _plain_play(runtime, socket, [step], arrays, outputs)


@cocotb.test()
async def run_tiered_system_session(dut):
    # The plain player looks its step player up by name at each phase.
    plain._play = _play
    await plain.run_system_session.func(dut)
