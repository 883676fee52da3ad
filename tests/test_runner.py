"""The runner's failure contract: a failing simulation names its seed and leaves a waveform."""

import cocotb
import pytest
from cocotb.triggers import ClockCycles

from testbench.bfm.clock_reset import start_clock_and_reset
from testbench.bfm.sim_io import save_outputs, sim_args, sim_inputs
from testbench.cli.numerics_ops import lane_array_design
from testbench.sim.runner import SimulationFailed, simulate

DESIGN = lane_array_design("fp32_to_bf16", 1)


@cocotb.test()
async def echo_arguments(dut):
    await start_clock_and_reset(dut)
    await ClockCycles(dut.clk, 3)
    save_outputs(doubled=sim_inputs()["values"] * sim_args()["factor"],
                 seed=str(cocotb.RANDOM_SEED))


@cocotb.test()
async def fails_on_purpose(dut):
    await start_clock_and_reset(dut)
    await ClockCycles(dut.clk, 5)
    raise AssertionError(f"deliberate failure, marker {sim_args()['marker']}")


def test_arrays_arguments_and_seed_cross_the_process_boundary(run_name):
    import numpy as np

    def run(seed):
        result = simulate(DESIGN, "test_runner", testcase="echo_arguments", run_name=run_name,
                          seed=seed, inputs={"values": np.arange(5)}, args={"factor": 3})
        assert result.outputs["doubled"].tolist() == [0, 3, 6, 9, 12]
        return str(result.outputs["seed"])

    # cocotb derives each test's seed from the run's seed and the test name.
    first, again, other = run(4321), run(4321), run(4322)
    assert first == again != other


def test_failure_names_seed_and_leaves_a_waveform(run_name):
    with pytest.raises(SimulationFailed) as failure:
        simulate(DESIGN, "test_runner", testcase="fails_on_purpose", run_name=run_name,
                 seed=987, args={"marker": "m-42"}, log=lambda _: None)
    message = str(failure.value)
    assert "seed 987" in message and "deliberate failure, marker m-42" in message
    waves_line = next(line for line in message.splitlines() if line.startswith("waves: "))
    waveform = waves_line.removeprefix("waves: ")
    assert waveform.endswith((".fst", ".vcd"))
    import os
    assert os.path.getsize(waveform) > 0


def test_concurrent_runs_under_one_name_get_separate_directories():
    from testbench.sim.runner import _claimed_run_dir

    with _claimed_run_dir("shared_name") as first:
        (first / "marker").write_text("first")
        with _claimed_run_dir("shared_name") as second:
            assert second != first and second.name == "shared_name-2"
            assert (first / "marker").read_text() == "first", "the second claim wiped the first"
    with _claimed_run_dir("shared_name") as again:
        assert again == first and not (again / "marker").exists()
