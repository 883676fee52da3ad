"""FPGA host bridge end to end: the host script drives a bit-level UART wire into the
bridge, which runs an fp32_mul x4 lane array from block-RAM buffers; results are checked
bit-exactly against the golden model."""

import random

import cocotb
import numpy as np
from cocotb.task import bridge

from testbench.bfm.clock_reset import start_clock_and_reset
from testbench.bfm.sim_io import save_outputs, sim_args, sim_inputs
from testbench.bfm.watchdog import Watchdog
from testbench.fpga.blocking_transport import BlockingTransport
from testbench.fpga.host_script import ACK, NAK, BridgeClient, run_batch
from testbench.fpga.uart_wire import UartWire
from testbench.golden.fp_vectors import hard_f32_pairs
from testbench.golden.numerics import f32_mul
from testbench.sim.build_cache import Design
from testbench.sim.runner import simulate

SEEDS = [1]
DIVISOR = 4
LANES = 4
ENTRIES = 24

BRIDGED_MUL = Design("bridged_fp32_mul_x4", "hdl.fpga.bridged:bridged_numeric_array",
                     {"unit": "fp32_mul", "lanes": LANES, "divisor": DIVISOR, "depth": 512})


# ---------------------------------------------------------------- cocotb side


async def _setup(dut):
    args = sim_args()
    rng = random.Random(args["seed"])
    dut.rx.value = 1  # an idle line, also during reset: low would read as a start bit
    await start_clock_and_reset(dut)
    wire = UartWire(dut, args["divisor"], rng)
    watchdog = Watchdog(dut, dut.clk, [wire], idle_cycles=200 * args["divisor"])
    cocotb.start_soon(watchdog.run())
    return wire


@cocotb.test()
async def bridge_runs_lane_array(dut):
    """Write operands, start, poll, read results: all through host_script.run_batch."""
    wire = await _setup(dut)
    in_words = sim_inputs()["in_words"]
    client = BridgeClient(BlockingTransport(wire))

    @bridge
    def host():
        return run_batch(client, in_words)

    out, cycles = await host()
    save_outputs(out_words=out, cycles=np.array([cycles]))


@cocotb.test()
async def bridge_rejects_unknown_command(dut):
    """An unknown command byte gets NAK and the bridge still serves the next request."""
    wire = await _setup(dut)
    await wire.send(bytes([0x00]))
    assert await wire.receive(1) == bytes([NAK])
    client = BridgeClient(BlockingTransport(wire))

    @bridge
    def host():
        client.write(0x8002, 7)            # COUNT
        return client.read(0x8002), client.busy()

    count, busy = await host()
    assert (count, busy) == (7, False), (count, busy)
    await wire.send(bytes([0x3F]))
    assert (await wire.receive(2))[0] == ACK


# ---------------------------------------------------------------- pytest side


def _operands(seed):
    a, b = hard_f32_pairs(np.random.default_rng([seed, 9]), ENTRIES * LANES)
    return a.astype(np.uint32).reshape(ENTRIES, LANES), b.astype(np.uint32).reshape(ENTRIES, LANES)


def test_host_bridge_fp32_mul_bit_exact(seed, waves, run_name):
    a, b = _operands(seed)
    # Lane n's payload {a, b} sits at bits 64n..64n+63, a low: words a0 b0 a1 b1 ...
    in_words = np.stack([a, b], axis=2).reshape(ENTRIES, 2 * LANES)
    result = simulate(BRIDGED_MUL, "test_host_bridge", run_name=run_name, seed=seed,
                      waves=waves, testcase="bridge_runs_lane_array",
                      args={"seed": seed, "divisor": DIVISOR}, inputs={"in_words": in_words})
    got = result.outputs["out_words"]
    want = f32_mul(a, b).astype(np.uint32)
    bad = np.argwhere(got != want)
    assert not len(bad), "mismatches (entry, lane, a, b, got, want): " + "; ".join(
        f"{e} {n} {a[e, n]:08x} {b[e, n]:08x} {got[e, n]:08x} {want[e, n]:08x}"
        for e, n in bad[:10])
    # The unit's pipeline ran the batch back to back: one entry per cycle plus its latency.
    assert ENTRIES <= int(result.outputs["cycles"][0]) <= ENTRIES + 16


def test_host_bridge_rejects_unknown_command(seed, waves, run_name):
    simulate(BRIDGED_MUL, "test_host_bridge", run_name=run_name, seed=seed, waves=waves,
             testcase="bridge_rejects_unknown_command", args={"seed": seed, "divisor": DIVISOR})
