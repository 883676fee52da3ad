"""Control fabric: 1-bit tokens follow the configured source of each sink, one cycle later.

Random pulse patterns on every source; for each of several random
configurations (some sinks disconnected, several sinks on one source), every
sink is compared cycle by cycle with its source of the cycle before. The cocotb
coroutine runs inside the simulator.
"""

import random

import cocotb
import numpy as np
import pytest
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from hdl.network.control import control_words
from testbench.bfm.clock_reset import start_clock_and_reset
from testbench.bfm.sim_io import save_outputs, sim_args
from testbench.bfm.stream import StreamSource
from testbench.bfm.watchdog import Watchdog
from testbench.sim.build_cache import Design
from testbench.sim.runner import simulate

SEEDS = [1, 2]


@cocotb.test()
async def control_tokens(dut):
    args = sim_args()
    sources, sinks = args["sources"], args["sinks"]
    seed = cocotb.RANDOM_SEED
    rng = random.Random(seed)
    dut.src.value = 0
    await start_clock_and_reset(dut)
    cfg = StreamSource(dut, "cfg", dut.clk, random.Random(seed + 1), 0.5)
    watchdog = Watchdog(dut, dut.clk, [cfg], idle_cycles=200, max_cycles=50_000,
                        unit="control fabric")
    cocotb.start_soon(watchdog.run())
    await ReadOnly()
    assert int(dut.snk.value) == 0, "a sink pulses before any configuration"
    await RisingEdge(dut.clk)

    select = dict.fromkeys(range(sinks))  # sink -> source or None: all disconnected
    checked = tokens = 0
    for _ in range(args["configs"]):
        change = {k: (None if rng.random() < 0.25 else rng.randrange(sources))
                  for k in rng.sample(range(sinks), rng.randrange(1, sinks + 1))}
        select.update(change)
        cfg.send(control_words(change, sources=sources, sinks=sinks))
        dut.src.value = 0
        await cfg.wait_idle()
        await RisingEdge(dut.clk)
        previous = None
        for _cycle in range(args["cycles"]):
            pattern = rng.getrandbits(sources)
            dut.src.value = pattern
            await ReadOnly()
            out = int(dut.snk.value)
            if previous is not None:
                for k in range(sinks):
                    want = 0 if select[k] is None else (previous >> select[k]) & 1
                    got = (out >> k) & 1
                    assert got == want, (
                        f"sink {k} (source {select[k]}): got {got}, want {want} "
                        f"(sources the cycle before {previous:0{sources}b})")
                    checked += 1
                    tokens += got
            previous = pattern
            await RisingEdge(dut.clk)
    await ClockCycles(dut.clk, 2)
    dut._log.info(f"{checked} sink-cycles checked, {tokens} tokens delivered")
    assert tokens > 0
    save_outputs(checked=np.array(checked))


@pytest.mark.parametrize("sources,sinks", [(4, 6), (9, 3)])
def test_control_tokens_follow_configuration(sources, sinks, seed, waves, run_name):
    design = Design(f"control_{sources}x{sinks}", "hdl.network.control:make_control_fabric",
                    {"sources": sources, "sinks": sinks})
    result = simulate(design, "test_network_control", testcase="control_tokens",
                      run_name=run_name, seed=seed, waves=waves,
                      args={"sources": sources, "sinks": sinks, "configs": 6, "cycles": 60})
    assert int(result.outputs["checked"]) == 6 * 59 * sinks
