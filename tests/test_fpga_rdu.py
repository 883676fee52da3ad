"""The FPGA prototype's core end to end: the RDU's "fpga" preset behind the UART host bridge.

The host side is the code that drives the board: :class:`testbench.fpga.rdu_host.BoardHost`
(synchronous, over :class:`testbench.fpga.rdu_client.RDUBridgeClient` and the byte-level
:class:`BridgeClient`) runs in a cocotb ``bridge`` thread whose byte transport moves every
byte bit by bit over the simulated UART wire (seeded random gaps between bytes). It plays
a script (tensors, program load, kernel launch, read back) and the results are checked
bit-exactly against the golden model. The cocotb Runtime then runs a second kernel through
the same wire via its :class:`~testbench.runtime.transport.BridgeTransport`.
"""

import random
import subprocess
import sys

import cocotb
import cocotb.task
import numpy as np
import pytest

from hdl.rdu.config import RDUParams, rdu_params
from pcu_pmu.pcu.config import PCUConfig, TailOp
from testbench.bfm.clock_reset import start_clock_and_reset
from testbench.bfm.sim_io import save_outputs, sim_args, sim_inputs
from testbench.bfm.watchdog import Watchdog
from testbench.bfm.words import assert_words_equal
from testbench.fpga.blocking_transport import BlockingTransport
from testbench.fpga.host_script import BridgeClient
from testbench.fpga.rdu_client import MAGIC, RDUBridgeClient
from testbench.fpga.rdu_host import BoardHost, play_steps
from testbench.fpga.uart_wire import UartWire
from testbench.programs.catalog import prepare
from testbench.runtime.host_program import step_to_json
from testbench.runtime.host_script import HostScript
from testbench.runtime.runtime import Runtime
from testbench.runtime.transport import BridgeTransport
from testbench.sim.build_cache import Design
from testbench.sim.runner import simulate
from testbench.sim.toolchain import PROJECT_ROOT

SEEDS = [1]
DIVISOR = 4


def bridged_rdu_design(config: RDUParams) -> Design:
    return Design("rdu_fpga_bridged", "hdl.fpga.bridged_rdu:make_bridged_rdu",
                  {"preset": "small", "divisor": DIVISOR, **config.to_json()},
                  profile="quick")


# ---------------------------------------------------------------- cocotb side


@cocotb.test()
async def board_host_runs_kernels(dut):
    args, arrays = sim_args(), sim_inputs()
    config = RDUParams(**args["config"])
    dut.rx.value = 1  # an idle line, also during reset
    await start_clock_and_reset(dut)
    wire = UartWire(dut, args["divisor"], random.Random(args["seed"]))
    cocotb.start_soon(Watchdog(dut, dut.clk, [wire], idle_cycles=400 * args["divisor"]).run())
    rdu = RDUBridgeClient(BridgeClient(BlockingTransport(wire)))

    @cocotb.task.bridge
    def board_program():
        info = rdu.check()
        # Device memory round trip through the bridge, at the top of memory (unused).
        scratch = config.memory_bytes - 4 * len(arrays["scratch"])
        rdu.write_memory(scratch, arrays["scratch"].tobytes())
        back = np.frombuffer(rdu.read_memory(scratch, arrays["scratch"].nbytes), "<u4")
        assert np.array_equal(back, arrays["scratch"]), f"memory round trip: {back}"
        outputs = play_steps(BoardHost(rdu, config, max_polls=50), args["steps"], arrays)
        return info, outputs

    info, outputs = await board_program()
    assert info["data_width"] == config.vector_bits, info

    # The cocotb Runtime, unchanged apart from its transport, over the same wire.
    runtime = Runtime(dut, config, transport=BridgeTransport(rdu),
                      timeout_cycles=args["timeout_cycles"])
    await runtime.start()
    # The board host used the command region from its start; the Runtime starts there
    # too, which is fine: that kernel has finished.
    await runtime.load_program(arrays["runtime_image"].tobytes())
    launch = await runtime.launch(arrays["runtime_args"])
    outputs["runtime_out"] = await runtime.read(int(args["runtime_out"]),
                                                int(args["runtime_count"]))
    outputs["runtime_cycles"] = np.array([launch.host_cycles, launch.kernel_cycles])
    outputs["bridge_errors"] = np.array([await cocotb.task.bridge(rdu.errors)()])
    save_outputs(**outputs)


# ---------------------------------------------------------------- pytest side


def test_fpga_rdu_runs_kernels_over_uart(seed, run_name, waves):
    config = rdu_params("fpga")
    script = HostScript(config)
    rng = np.random.default_rng(seed)
    board = prepare("vector_add", script, rng)
    by_runtime = prepare("reduce_sum", script, rng)
    script.load(board.image)
    script.launch(board.arguments, "add")
    script.read("add_out", board.out, board.expected.size)
    inputs = dict(script.arrays)
    inputs["runtime_image"] = np.frombuffer(by_runtime.image.to_bytes(), dtype=np.uint8)
    inputs["runtime_args"] = np.asarray(by_runtime.arguments, np.uint32)
    inputs["scratch"] = rng.integers(0, 1 << 32, 6, dtype=np.uint32)
    result = simulate(bridged_rdu_design(config), "test_fpga_rdu", run_name=run_name,
                      seed=seed, waves=waves, testcase="board_host_runs_kernels",
                      args={"config": config.to_json(), "seed": seed,
                            "steps": [step_to_json(step) for step in script.steps],
                            "divisor": DIVISOR, "timeout_cycles": 400_000,
                            "runtime_out": by_runtime.out,
                            "runtime_count": int(by_runtime.expected.size)},
                      inputs=inputs)
    out = result.outputs
    assert_words_equal(out["add_out"], board.expected, "vector_add by the board host script")
    assert_words_equal(out["runtime_out"], by_runtime.expected,
                       "reduce_sum by the Runtime over the bridge")
    assert int(out["add_kernel_cycles"][0]) > 0
    host_cycles, kernel_cycles = (int(v) for v in out["runtime_cycles"])
    assert 0 < kernel_cycles < host_cycles, out["runtime_cycles"]
    assert int(out["bridge_errors"][0]) == 0, "the AXI masters saw error responses"
    print(f"vector_add kernel {int(out['add_kernel_cycles'][0])} cycles; reduce_sum kernel "
          f"{kernel_cycles} cycles, {host_cycles} host cycles over the UART")


# ---------------------------------------------------------------- configuration


def test_fpga_preset_builds_only_cheap_tail_ops():
    config = rdu_params("fpga")
    params = config.pcu_params()
    assert params.tail_ops == (TailOp.PASS, TailOp.BF16)
    assert not params.systolic and config.rows * config.cols == 2
    ok = PCUConfig(lanes=config.lanes, stages=config.stages, tail=TailOp.BF16)
    ok.validate(params)
    with pytest.raises(ValueError, match=r"tail: EXP has no tail unit in this PCU "
                                         r"\(available: PASS, BF16\)"):
        PCUConfig(lanes=config.lanes, stages=config.stages, tail=TailOp.EXP).validate(params)


def test_tail_ops_parameter_is_checked_and_normalised():
    assert rdu_params("small").pcu_params().tail_ops == tuple(TailOp)
    # JSON lists (command line, Design params) come back as TailOp-ordered name tuples.
    assert rdu_params("small", tail_ops=["BF16", "EXP"]).tail_ops == ("PASS", "BF16", "EXP")
    with pytest.raises(ValueError, match="tail_ops must be TailOp values or names"):
        rdu_params("small", tail_ops=["SQRT"])


def test_bridge_client_rejects_unaligned_and_out_of_window_access():
    rdu = RDUBridgeClient(client=None)
    with pytest.raises(ValueError, match="not 32-bit aligned"):
        rdu.write_memory(2, b"\0\0\0\0")
    with pytest.raises(ValueError, match="whole 32-bit words"):
        rdu.read_memory(0, 6)
    with pytest.raises(ValueError, match="outside the bridge's"):
        rdu.read_memory(0x20000, 4)
    assert MAGIC == 0x52445541


@pytest.mark.parametrize("argv, needle", [
    (["fpga", "synth", "rdu_fpga", "-p", "bogus=1"], "unknown RDU parameter(s) bogus"),
    (["fpga", "synth", "rdu_fpga", "-p", 'tail_ops=["SQRT"]'],
     "tail_ops must be TailOp values or names"),
    (["fpga", "build", "--board", "ulx3s-85f", "--design", "rdu_fpga", "--baud", "0"],
     "baud rate must be positive"),
    (["fpga", "build", "--board", "ulx3s-85f", "--design", "rdu_fpga", "--clock-mhz", "52.5"],
     "no ECP5 PLL setting makes 52.5 MHz from 25.0 MHz"),
    (["fpga", "build", "--board", "ulx3s-85f", "--clock-mhz", "50"],
     "--clock-mhz is for --design rdu_fpga"),
])
def test_rdu_fpga_cli_bad_input_is_a_clear_error(argv, needle):
    proc = subprocess.run([sys.executable, "-m", "testbench.cli.main", *argv],
                          capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr
