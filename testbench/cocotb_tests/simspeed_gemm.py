"""One hardware-orchestrated kernel schedule on the RDU top, timed in wall-clock seconds.

Two tests, each run alone (``testcase=``) by ``rdu bench simspeed``:

* ``runtime_schedule``: the project's way, as :mod:`.host_player` runs a host
  program: the :class:`Runtime` (cocotbext-axi masters; it sleeps on ``busy``'s fall,
  then reads the status registers), the clock in the simulator, the sticky credit
  checker read once at the end. Args
  ``writes`` [[address, array], ...], ``schedule`` [[image, arguments], ...] and
  ``host_stall`` (the Runtime's AXI channels pause with this probability, seeded).
* ``quiet_schedule``: Python off the per-cycle path. The same cocotbext-axi masters
  write ``preload`` [[address, array], ...] (tensors, program images, argument
  blocks and the schedule table, laid out as the Runtime lays them out) and the
  command registers; then the doorbell, and nothing but two edge waits on ``busy``
  until the schedule ends. Idle cocotbext-axi channels do not wake per cycle:
  sources sleep on ``active_event`` while their queue is empty and sinks on a
  ``RisingEdge(valid)`` monitor (cocotbext/axi/stream.py, version 0.1.28). The
  clock is arg ``clock``: ``"gpi"`` toggles it in the simulator (C++), ``"py"`` is
  the Python coroutine cocotb 2 picks by default (``start_clock_and_reset``) unless
  COCOTB_TRUST_INERTIAL_WRITES is set, two Python wake-ups per cycle.

Both read ``reads`` [[name, address, words], ...] back and save, besides them,
``busy_cycles`` (cycles from ``busy`` rising to falling: the schedule),
``wall_seconds`` (wall-clock time of that window), ``python_calls`` (Python
function calls in that window, counted by ``quiet_schedule`` when arg
``count_calls`` is true, else -1), ``kernel_cycles``
(KERNEL_CYCLES) and ``commands_done``. The schedule must raise ``busy`` exactly
once and end without the error flag.
"""

import sys
import time

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge, with_timeout
from cocotb.utils import get_sim_time

from hdl.agcu.commands import Command
from hdl.rdu.config import RDUParams
from testbench.bfm.clock_reset import CLOCK_PERIOD_NS, start_clock_and_reset
from testbench.bfm.sim_io import save_outputs, sim_args, sim_inputs
from testbench.runtime import host_registers as reg
from testbench.runtime.image import ProgramImage
from testbench.runtime.runtime import Runtime
from testbench.runtime.transport import AxiTransport


async def _busy_window(dut, count_calls: bool = False) -> tuple[int, float, int]:
    """(cycles, wall seconds, Python calls) from ``busy`` rising to falling: two edge
    callbacks, no polling. ``count_calls``: count the Python function calls made in the
    window with a profile hook (costs time per call, so only where few are expected);
    else -1."""
    calls = [0]

    def count(frame, event, arg):
        if event == "call":
            calls[0] += 1

    await RisingEdge(dut.busy)
    start, wall = get_sim_time("ns"), time.perf_counter()
    if count_calls:
        sys.setprofile(count)
    await FallingEdge(dut.busy)
    sys.setprofile(None)
    seconds = time.perf_counter() - wall
    cycles = round((get_sim_time("ns") - start) / CLOCK_PERIOD_NS)
    return cycles, seconds, calls[0] if count_calls else -1


async def _read_outputs(read_memory, reads) -> dict:
    outputs = {}
    for name, address, words in reads:
        data = await read_memory(address, 4 * words)
        outputs[name] = np.frombuffer(data, dtype="<u4").copy()
    return outputs


def _save(outputs: dict, window, kernel_cycles: int, commands_done: int) -> None:
    cycles, seconds, calls = window
    save_outputs(**outputs, busy_cycles=np.array([cycles], np.int64),
                 wall_seconds=np.array([seconds]), python_calls=np.array([calls], np.int64),
                 kernel_cycles=np.array([kernel_cycles], np.int64),
                 commands_done=np.array([commands_done], np.int64))


@cocotb.test()
async def runtime_schedule(dut):
    args, arrays = sim_args(), sim_inputs()
    config = RDUParams(**args["config"])
    await start_clock_and_reset(dut, impl="gpi")
    runtime = Runtime(dut, config, timeout_cycles=args["timeout_cycles"],
                      stall=args["host_stall"], seed=cocotb.RANDOM_SEED)
    await runtime.start()
    for address, key in args["writes"]:
        await runtime.write(address, arrays[key])
    window = cocotb.start_soon(_busy_window(dut))
    launch = await runtime.run_schedule(
        [(ProgramImage.from_bytes(arrays[image].tobytes()), arrays[arguments])
         for image, arguments in args["schedule"]])
    assert window.done(), "busy did not fall before the runtime saw the schedule finish"
    assert not dut.credit_error.value, "the credit checker fired (its level is sticky)"
    outputs = await _read_outputs(runtime.transport.read_memory, args["reads"])
    _save(outputs, window.result(), launch.kernel_cycles,
          await runtime.register(reg.COMMANDS_DONE))


@cocotb.test()
async def quiet_schedule(dut):
    args, arrays = sim_args(), sim_inputs()
    Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns", impl=args["clock"]).start()
    dut.rst.value = 1
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    await RisingEdge(dut.clk)
    host = AxiTransport(dut, stall=0.0)
    for address, key in args["preload"]:
        await host.write_memory(address, arrays[key].tobytes())
    table, entries = args["table"]
    await host.write_register(reg.CMD_OP, int(Command.SCHEDULE))
    await host.write_register(reg.CMD_ADDR, table)
    await host.write_register(reg.CMD_LENGTH, entries)
    window = cocotb.start_soon(_busy_window(dut, count_calls=args["count_calls"]))
    await host.write_register(reg.DOORBELL, 1)
    # the watchdog is a timer: it costs nothing per cycle
    measured = await with_timeout(window, args["timeout_cycles"] * CLOCK_PERIOD_NS, "ns")
    status = await host.read_register(reg.STATUS)
    assert not status & (reg.STATUS_BUSY | reg.STATUS_ERROR), f"status {status:#x} after the run"
    outputs = await _read_outputs(host.read_memory, args["reads"])
    _save(outputs, measured, await host.read_register(reg.KERNEL_CYCLES),
          await host.read_register(reg.COMMANDS_DONE))
