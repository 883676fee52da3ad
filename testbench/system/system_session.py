"""Plays a :class:`~testbench.system.session.SystemSession` on the system top (cocotb).

One :class:`~testbench.runtime.runtime.Runtime` per socket over its own host
port (an :class:`~testbench.runtime.transport.AxiTransport` on its ``s<k>_``
ports); the phases run one after the other, the sockets of a phase
concurrently. Every socket's mesh credit checker and link source/destination
check must stay clean for the whole session, and no configuration record may be
refused. Outputs: see the session module.
"""

import cocotb
import numpy as np
from cocotb.triggers import RisingEdge

from hdl.system.config import SystemConfig
from hdl.system.system import DIRECTIONS, LINK_STATS
from testbench.bfm.clock_reset import start_clock_and_reset
from testbench.bfm.sim_io import save_outputs, sim_args, sim_inputs
from testbench.runtime.image import ProgramImage
from testbench.runtime.runtime import Runtime
from testbench.runtime.transport import AxiTransport


async def _fault_monitor(dut, sockets: int, faults: list):
    """Record the first cycle any socket's credit checker or link check fires."""
    cycle = 0
    while True:
        await RisingEdge(dut.clk)
        cycle += 1
        for k in range(sockets):
            for flag in ("credit_error", "link_error"):
                if getattr(dut, f"s{k}_{flag}").value:
                    faults.append(f"socket {k} {flag} at cycle {cycle}")
                    return


async def _play(runtime: Runtime, socket: int, steps: list, arrays: dict, outputs: dict):
    for step in steps:
        op = step["op"]
        if op == "write":
            await runtime.write(step["addr"], arrays[step["array"]])
        elif op == "load":
            await runtime.load_program(ProgramImage.from_bytes(arrays[step["image"]].tobytes()))
        elif op == "launch":
            start = runtime.cycle
            launch = await runtime.launch(arrays[step["args"]])
            outputs[f"{step['name']}_cycles"] = np.array(
                [launch.host_cycles, launch.kernel_cycles], dtype=np.int64)
            outputs[f"{step['name']}_window"] = np.array([start, runtime.cycle], np.int64)
        elif op == "read":
            outputs[step["name"]] = await runtime.read(step["addr"], step["count"])
        elif op == "counters":
            outputs[step["name"]] = await runtime.counters()
        else:
            raise ValueError(f"socket {socket}: unknown op {op!r}")


@cocotb.test()
async def run_system_session(dut):
    args, arrays = sim_args(), sim_inputs()
    config = SystemConfig.from_json(args["config"])
    dut.link_flip_threshold.value = args["flip_threshold"]
    dut.link_drop_threshold.value = args["drop_threshold"]
    dut.link_seed.value = args["link_seed"]
    dut.link_start.value = 0
    await start_clock_and_reset(dut)
    dut.link_start.value = 1
    await RisingEdge(dut.clk)
    dut.link_start.value = 0
    runtimes = [Runtime(dut, config.socket_rdu(k), timeout_cycles=args["timeout_cycles"],
                        transport=AxiTransport(dut, stall=args["host_stall"],
                                               seed=cocotb.RANDOM_SEED * 1000 + k,
                                               prefix=f"s{k}_"))
                for k in range(config.sockets)]
    for runtime in runtimes:
        await runtime.start()
    faults = []
    cocotb.start_soon(_fault_monitor(dut, config.sockets, faults))

    outputs = {}
    clock = runtimes[0]
    for index, phase in enumerate(args["phases"]):
        start = clock.cycle
        tasks = [cocotb.start_soon(_play(runtimes[k], k, steps, arrays, outputs))
                 for k, steps in enumerate(phase["steps"]) if steps]
        for task in tasks:
            await task
        if phase["name"]:
            outputs[f"{phase['name']}_window"] = np.array([start, clock.cycle], dtype=np.int64)
        assert not faults, f"phase {index} ({phase['name']}): {faults[0]}"
    for k in range(config.sockets):
        assert not int(getattr(dut, f"s{k}_config_error").value), \
            f"socket {k} refused a configuration record"
    links = np.zeros((len(config.links()), len(DIRECTIONS), len(LINK_STATS)), dtype=np.int64)
    for i in range(len(config.links())):
        for j, d in enumerate(DIRECTIONS):
            for s, name in enumerate(LINK_STATS):
                links[i, j, s] = int(getattr(dut, f"l{i}_{d}_{name}").value)
    outputs["links"] = links
    save_outputs(**outputs)
