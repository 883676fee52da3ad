"""Plays a :class:`testbench.runtime.session.Session` script on the RDU top.

Outputs: every ``read`` step's words and ``counters`` snapshot under its name
(and ``<name>_observed``: the same counts as this testbench saw them on the
top's ``counter_events`` when the snapshot started);
for every launch, schedule or named load ``<name>_cycles`` = (host cycles, AGCU kernel
cycles) and ``<name>_window`` = (first, last) host cycle of the launch; for
every copy ``<name>`` = (the copy engine's cycles,) and ``<name>_window``, and the same
for every ``paced_write`` (a host write throttled to a link rate); a ``progress`` step
appends its line to its file when reached. The
mesh's credit checker must stay clean for the whole session, and with
memory="tiers" the DRAM timing checkers too (COPY_STATUS bit 1, checked at the end).
"""

import cocotb
import numpy as np

from hdl.rdu.config import RDUConfig
from testbench.bfm.clock_reset import start_clock_and_reset
from testbench.bfm.rdu_monitors import count_counter_events, watch_credit_error
from testbench.bfm.sim_io import save_outputs, sim_args, sim_inputs
from testbench.runtime.host_link import paced_write
from testbench.runtime.host_registers import COMMANDS_DONE, COPY_STATUS, copy_status_fields
from testbench.runtime.image import ImageError, ProgramImage
from testbench.runtime.runtime import DeviceError, Runtime


@cocotb.test()
async def run_session(dut):
    args, arrays = sim_args(), sim_inputs()
    config = RDUConfig(**args["config"])
    await start_clock_and_reset(dut)
    runtime = Runtime(dut, config, timeout_cycles=args["timeout_cycles"],
                      stall=args.get("host_stall", 0.0), seed=cocotb.RANDOM_SEED)
    await runtime.start()
    credit_fault = []
    cocotb.start_soon(watch_credit_error(dut, credit_fault))
    observed = np.zeros((len(config.units()), 3), dtype=np.int64)
    cocotb.start_soon(count_counter_events(dut, observed))

    def image(key):
        return None if key is None else ProgramImage.from_bytes(arrays[key].tobytes())

    outputs = {}
    for index, step in enumerate(args["steps"]):
        op = step["op"]
        if op == "write":
            await runtime.write(step["addr"], arrays[step["array"]])
        elif op == "load":
            start = runtime.cycle
            launch = await runtime.load_program(image(step["image"]))
            if step.get("name"):
                outputs[f"{step['name']}_cycles"] = np.array(
                    [launch.host_cycles, launch.kernel_cycles], dtype=np.int64)
                outputs[f"{step['name']}_window"] = np.array([start, runtime.cycle], np.int64)
        elif op == "load_refused":
            before = await runtime.register(COMMANDS_DONE)
            try:
                await runtime.load_program(arrays[step["image"]].tobytes())
            except ImageError as error:
                outputs[f"{step['name']}_reason"] = np.frombuffer(str(error).encode(), np.uint8)
            else:
                raise AssertionError(f"step {index}: the runtime accepted a bad image")
            outputs[step["name"]] = np.array([before, await runtime.register(COMMANDS_DONE)])
        elif op in ("launch", "schedule"):
            start = runtime.cycle
            if op == "launch":
                launch = await runtime.launch(arrays[step["args"]])
            else:
                launch = await runtime.run_schedule(
                    [(image(key), arrays[args_key]) for key, args_key in step["entries"]])
            outputs[f"{step['name']}_cycles"] = np.array(
                [launch.host_cycles, launch.kernel_cycles], dtype=np.int64)
            outputs[f"{step['name']}_window"] = np.array([start, runtime.cycle], dtype=np.int64)
        elif op == "copy":
            start = runtime.cycle
            outputs[step["name"]] = np.array(
                [await runtime.copy(step["src"], step["dst"], step["nbytes"])], dtype=np.int64)
            outputs[f"{step['name']}_window"] = np.array([start, runtime.cycle], dtype=np.int64)
        elif op == "paced_write":
            start = runtime.cycle
            cycles = await paced_write(runtime, step["addr"], arrays[step["array"]].tobytes(),
                                       step["bytes_per_cycle"])
            outputs[step["name"]] = np.array([cycles], dtype=np.int64)
            outputs[f"{step['name']}_window"] = np.array([start, runtime.cycle], dtype=np.int64)
        elif op == "progress":
            with open(step["file"], "a") as report:
                report.write(step["line"] + "\n")
        elif op == "read":
            outputs[step["name"]] = await runtime.read(step["addr"], step["count"])
        elif op == "counters":
            outputs[f"{step['name']}_observed"] = observed.copy()
            outputs[step["name"]] = await runtime.counters()
        else:
            raise ValueError(f"step {index}: unknown op {op!r}")
        assert not credit_fault, f"credit checker fired during step {index} ({op})"
    assert not int(dut.config_error.value), "a configuration record was refused"
    if config.memory == "tiers":
        status = copy_status_fields(await runtime.register(COPY_STATUS))
        if status["memory_error"]:
            raise DeviceError(f"a DRAM timing checker fired during the session ({status})")
    save_outputs(**outputs)
