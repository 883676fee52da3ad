"""A PMU with ``read_credits``: each read pass waits for a credit; random stalls both sides.

The testbench is the consumer stage: after it has taken a whole pass from
``vec_out`` it waits a random number of cycles (finishing the buffer) and
returns one token on ``credit_in``. Two passive checkers run every cycle: the
beats leaving ``vec_out`` never exceed ``rows`` x (initial credits + tokens
returned), and ``read_pass_start`` pulses never exceed the credits. The test
also counts the cycles the producer held a full buffer it had no credit for
(it waited), and the data is bit-exact against the golden PMU model.
"""

import random

import cocotb
import numpy as np
import pytest
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from pcu_pmu.pmu.config import AddressGenConfig, PMUConfig
from pcu_pmu.pmu.params import PMUParams
from testbench.bfm.clock_reset import start_clock_and_reset
from testbench.bfm.scoreboard import Scoreboard
from testbench.bfm.sim_io import save_outputs, sim_args, sim_inputs
from testbench.bfm.stream import StreamSink, StreamSource
from testbench.bfm.watchdog import Watchdog
from testbench.golden.pmu import PMUModel
from testbench.sim.build_cache import Design
from testbench.sim.packing import beats_to_ints, pack_beats
from testbench.sim.runner import simulate

SEEDS = [1, 2, 3]
PARAMS = PMUParams(banks=4, depth=64)
ROWS, PASSES = 4, 8
STALLS = {"none": (0.0, 0.0), "both": (0.4, 0.4)}


# --------------------------------------------------------------------------------------------
# cocotb side
# --------------------------------------------------------------------------------------------

async def _consumer(dut, sink, rng, rows: int, passes: int, max_delay: int):
    """Return one credit token per pass taken, a random delay after its last beat."""
    for done in range(1, passes + 1):
        await sink.wait_for(rows * done)
        await ClockCycles(dut.clk, rng.randint(1, max_delay))
        dut.credit_in.value = 1
        await RisingEdge(dut.clk)
        dut.credit_in.value = 0


async def _checker(dut, rows: int, initial: int, state: dict):
    """Passive: counts beats, pass starts and tokens as the next clock edge will see them."""
    while True:
        await RisingEdge(dut.clk)
        await ReadOnly()
        allowed = initial + state["tokens"]
        if int(dut.vec_in__valid.value) and int(dut.vec_in__ready.value):
            state["in"] += 1
        if int(dut.vec_out__valid.value) and int(dut.vec_out__ready.value):
            state["out"] += 1
            assert state["out"] <= rows * allowed, (
                f"beat {state['out']} left with only {allowed} credits ({rows} beats each)")
        if int(dut.read_pass_start.value):
            state["starts"] += 1
            assert state["starts"] <= allowed, (
                f"read pass {state['starts']} started with only {allowed} credits")
        # A whole pass sits in a buffer but every credited pass has left: the producer waits.
        if state["out"] == rows * allowed and state["in"] >= state["out"] + rows:
            state["waited"] += 1
        state["tokens"] += int(dut.credit_in.value)


@cocotb.test()
async def pmu_credits(dut):
    args, data = sim_args(), sim_inputs()
    rows, passes, initial = args["rows"], args["passes"], args["initial"]
    rng = random.Random(cocotb.RANDOM_SEED)
    in_stall, out_stall = args["in_stall"], args["out_stall"]
    dut.credit_in.value = 0
    await start_clock_and_reset(dut)
    cfg = StreamSource(dut, "cfg", dut.clk, random.Random(rng.random()), in_stall)
    vec_in = StreamSource(dut, "vec_in", dut.clk, random.Random(rng.random()), in_stall)
    board = Scoreboard("pmu vec_out", formatter=lambda v: f"{v:x}")
    vec_out = StreamSink(dut, "vec_out", dut.clk, random.Random(rng.random()), out_stall,
                         on_beat=board.receive)
    watchdog = Watchdog(dut, dut.clk, [cfg, vec_in, vec_out], idle_cycles=500,
                        max_cycles=args["max_cycles"], unit="pmu")
    cocotb.start_soon(watchdog.run())
    state = {"in": 0, "out": 0, "starts": 0, "tokens": 0, "waited": 0}
    cocotb.start_soon(_checker(dut, rows, initial, state))
    consumer = cocotb.start_soon(_consumer(dut, vec_out, random.Random(rng.random()), rows, passes,
                                args["max_delay"]))

    board.expect(_ints(data["vec_out"]))
    cfg.send([int(w) for w in data["cfg"]])
    vec_in.send(_ints(data["vec_in"]))
    await vec_out.wait_for(len(board.expected))
    while int(dut.busy.value):
        await RisingEdge(dut.clk)
    await consumer  # the last pass's token, which no pass needs
    await ClockCycles(dut.clk, 30)
    board.check_done()
    assert board.matched == len(board.expected) == vec_out.count, board.summary()
    save_outputs(starts=np.array(state["starts"]), tokens=np.array(state["tokens"]),
                 waited=np.array(state["waited"]), cycles=np.array(watchdog.cycles))


def _ints(rows: np.ndarray) -> list[int]:
    return beats_to_ints(pack_beats([(rows.reshape(-1), PARAMS.width)], PARAMS.lanes))


# --------------------------------------------------------------------------------------------
# pytest side
# --------------------------------------------------------------------------------------------

def credit_job(rows: int, passes: int, initial: int) -> PMUConfig:
    dense = AddressGenConfig(base=0, bounds=(rows, 1, 1), strides=(1, 0, 0), lo=0, hi=rows)
    return PMUConfig(write=dense, read=dense, passes=passes, n_buffers=2, read_credits=True,
                     initial_credits=initial).validate(PARAMS)


@pytest.mark.parametrize("initial", [1, 2])
@pytest.mark.parametrize("stall", list(STALLS))
def test_pmu_read_pass_waits_for_credit(stall, initial, seed, run_name, waves):
    rng = np.random.default_rng([seed, initial])
    job = credit_job(ROWS, PASSES, initial)
    data = rng.integers(0, 1 << PARAMS.width, (ROWS * PASSES, PARAMS.lanes), dtype=np.uint64)
    expected = PMUModel(PARAMS).run(job, data).vec_out
    in_stall, out_stall = STALLS[stall]
    result = simulate(
        Design(f"pmu_b{PARAMS.banks}_d{PARAMS.depth}", "pcu_pmu.pmu.pmu:make_pmu",
               PARAMS.to_json()),
        "test_control_credits_pmu", testcase="pmu_credits", run_name=run_name, seed=seed,
        waves=waves,
        inputs={"cfg": np.array(job.to_words(), np.uint64), "vec_in": data,
                "vec_out": np.asarray(expected, np.uint64)},
        args={"rows": ROWS, "passes": PASSES, "initial": initial, "in_stall": in_stall,
              "out_stall": out_stall, "max_delay": 40, "max_cycles": 20_000})
    out = result.outputs
    assert int(out["starts"]) == PASSES
    assert int(out["tokens"]) == PASSES
    assert int(out["waited"]) > 0, "the producer never had to wait for a credit"
    print(f"{stall} stalls, {initial} initial credit(s): {int(out['cycles'])} cycles, "
          f"producer waited {int(out['waited'])} cycles with a full buffer and no credit")
