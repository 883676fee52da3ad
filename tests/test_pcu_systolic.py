"""PCU systolic body: bit-exact tiles C = A @ B against the golden model, under stalls.

The tiles run through :func:`testbench.cli.bench_systolic.run_systolic`, whose cocotb
test (``systolic_tiles`` in :mod:`testbench.cocotb_tests.systolic_tiles`) is also what
``rdu bench pcu`` runs to measure utilisation. The cocotb coroutine here
(``adder_vectors``) runs inside the simulator; the pytest functions at the bottom build
the designs and start them.
"""

import gc
import random
import warnings

import cocotb
import numpy as np
import pytest
from amaranth.hdl import UnusedElaboratable
from cocotb.triggers import ClockCycles

from pcu_pmu.pcu.systolic import SystolicArray
from testbench.bfm.clock_reset import start_clock_and_reset
from testbench.bfm.scoreboard import Scoreboard
from testbench.bfm.sim_io import save_outputs, sim_args, sim_inputs
from testbench.bfm.stream import StreamSink, StreamSource
from testbench.bfm.watchdog import Watchdog
from testbench.cli.bench_systolic import ordinary_bf16, run_systolic
from testbench.golden.fp_vectors import classify, hard_bf16_pairs, hard_f32_pairs
from testbench.golden.numerics import bf16_mul_f32, f32_add, is_nan_f32
from testbench.golden.systolic import systolic_tile
from testbench.sim.build_cache import Design
from testbench.sim.packing import beats_to_ints, ints_to_beats, pack_beats, unpack_beats
from testbench.sim.runner import simulate

SEEDS = [1, 2]
SHAPES = [(4, 4), (3, 2)]
LATENCY = 6  # SystolicArray.latency, checked against the property below


# ---------------------------------------------------------------- cocotb side

@cocotb.test()
async def adder_vectors(dut):
    """Single-cycle adder lanes: play operand beats with stalls, scoreboard every sum."""
    args, inputs = sim_args(), sim_inputs()
    seed = cocotb.RANDOM_SEED
    expected = beats_to_ints(inputs["sums"])
    await start_clock_and_reset(dut)
    source = StreamSource(dut, "i", dut.clk, random.Random(seed + 1), args["in_stall"])
    scoreboard = Scoreboard("single-cycle fp32 add", formatter=lambda v: f"{v:064x}")
    scoreboard.expect(expected)
    sink = StreamSink(dut, "o", dut.clk, random.Random(seed + 2), args["out_stall"],
                      on_beat=scoreboard.receive)
    watchdog = Watchdog(dut, dut.clk, [source, sink], idle_cycles=500, unit="SingleCycleFP32Adder")
    cocotb.start_soon(watchdog.run())
    source.send(beats_to_ints(inputs["operands"]))
    await sink.wait_for(len(expected))
    await ClockCycles(dut.clk, 10)
    scoreboard.check_done()
    assert scoreboard.matched == len(expected) == sink.count, scoreboard.summary()
    save_outputs(sums=ints_to_beats(sink.received, len(inputs["sums"][0])))


# ---------------------------------------------------------------- stimulus

def _tile_data(rng, rows, cols, k, mode):
    """A (rows x k) and B (k x cols) bf16 bit patterns of one kind of data."""
    if mode == "hard":
        a = hard_bf16_pairs(rng, rows * k)[0].reshape(rows, k)
        b = hard_bf16_pairs(rng, k * cols)[1].reshape(k, cols)
        return a, b
    a, b = ordinary_bf16(rng, (rows, k)), ordinary_bf16(rng, (k, cols))
    if mode == "mixed":  # mostly ordinary, a few hard values (specials, subnormals, extremes)
        for x in (a, b):
            hard = hard_bf16_pairs(rng, x.size)[0].reshape(x.shape)
            x[...] = np.where(rng.random(x.shape) < 0.03, hard, x)
    elif mode == "tiny":  # products and sums near and below the smallest normal
        a = (a & 0x807F) | (rng.integers(0, 70, a.shape) << 7).astype(np.uint16)
        b = (b & 0x807F) | (rng.integers(0, 70, b.shape) << 7).astype(np.uint16)
    elif mode == "cancel":  # odd k subtracts (nearly) the even k's product: cancellation
        pairs = k // 2 * 2
        a[:, 1:pairs:2] = a[:, 0:pairs:2]
        nudge = rng.integers(0, 2, b[1:pairs:2].shape).astype(np.uint16)
        b[1:pairs:2] = b[0:pairs:2] ^ 0x8000 ^ nudge
    return a, b


def _random_tiles(rng, rows, cols, count):
    """K mixes 1, below ``rows`` (drain stalls the array) and longer; data kinds vary."""
    ks = [1] + [int(rng.choice([rng.integers(1, rows + 1), rng.integers(rows, 48),
                                rng.integers(48, 100)], p=[0.4, 0.45, 0.15]))
                for _ in range(count - 1)]
    rng.shuffle(ks)
    modes = ["ordinary", "mixed", "hard", "tiny", "cancel"]
    return [_tile_data(rng, rows, cols, k, modes[n % len(modes)]) for n, k in enumerate(ks)]


# ---------------------------------------------------------------- pytest side

STALLS = {  # (a, b, c) stall probabilities
    "no_stalls": (0.0, 0.0, 0.0),
    "input_stalls": (0.3, 0.6, 0.0),
    "output_stalls": (0.0, 0.0, 0.7),
    "all_stalls": (0.5, 0.3, 0.5),
}


@pytest.mark.parametrize("stalls", list(STALLS))
@pytest.mark.parametrize("rows,cols", SHAPES, ids=[f"{r}x{c}" for r, c in SHAPES])
def test_systolic_tiles_bit_exact(rows, cols, stalls, seed, waves, run_name):
    rng = np.random.default_rng([seed, rows, cols, list(STALLS).index(stalls)])
    tiles = _random_tiles(rng, rows, cols, count=20)
    a_stall, b_stall, c_stall = STALLS[stalls]
    run = run_systolic(tiles, rows=rows, cols=cols, seed=seed, a_stall=a_stall,
                       b_stall=b_stall, c_stall=c_stall, waves=waves, run_name=run_name)
    bad = np.argwhere(run["c"] != run["expected"])
    assert not len(bad), f"{len(bad)} elements of C differ, first (tile, i, j): {bad[:5].tolist()}"
    assert not is_nan_f32(run["expected"]).all(), "stimulus degenerated to all-NaN results"
    if stalls == "no_stalls":
        # Tile latency is 6 unless a short tile waits for its predecessor's drain.
        latency = run["first_out"] - run["last_in"]
        assert latency[0] == LATENCY, f"first tile latency {latency[0]}, want {LATENCY}"
        assert (latency >= LATENCY).all(), latency


@pytest.mark.parametrize("rows,cols", SHAPES, ids=[f"{r}x{c}" for r, c in SHAPES])
def test_systolic_streams_one_beat_per_cycle(rows, cols, seed, waves, run_name):
    """K > rows, no stalls: no bubble between tiles, exact cycle count, latency 6."""
    rng = np.random.default_rng([seed, rows, cols, 99])
    ks = [rows + 1, 2 * rows + 3, 31, rows + 1]
    tiles = [_tile_data(rng, rows, cols, k, "ordinary") for k in ks]
    run = run_systolic(tiles, rows=rows, cols=cols, seed=seed, waves=waves, run_name=run_name)
    assert np.array_equal(run["c"], run["expected"])
    assert run["cycles"] == sum(ks) + LATENCY + rows - 1, run
    assert (run["first_out"] - run["last_in"] == LATENCY).all(), run


@pytest.mark.regress
@pytest.mark.parametrize("stalls", ["no_stalls", "all_stalls"])
def test_systolic_8x8_bit_exact(stalls, seed, waves, run_name):
    rng = np.random.default_rng([seed, 8, 8, list(STALLS).index(stalls)])
    tiles = _random_tiles(rng, 8, 8, count=8) + [_tile_data(rng, 8, 8, 300, "mixed")]
    run = run_systolic(tiles, rows=8, cols=8, seed=seed, waves=waves, run_name=run_name,
                       **dict(zip(("a_stall", "b_stall", "c_stall"), STALLS[stalls], strict=True)))
    assert np.array_equal(run["c"], run["expected"])


def test_single_cycle_adder_bit_exact(waves, run_name):
    """The accumulator's combinational adder equals FP32Adder's contract on 100k hard pairs."""
    lanes, count, seed = 8, 100_000, 7
    rng = np.random.default_rng(seed)
    a, b = hard_f32_pairs(rng, count)
    want = f32_add(a, b)
    result = simulate(
        Design("fp32_add_1cycle_x8", "pcu_pmu.pcu.systolic_adder:make_single_cycle_adder_lanes",
               {"lanes": lanes}),
        "test_pcu_systolic", testcase="adder_vectors", run_name=run_name, seed=seed, waves=waves,
        args={"in_stall": 0.2, "out_stall": 0.2},
        inputs={"operands": pack_beats([(a, 32), (b, 32)], lanes),
                "sums": pack_beats([(want, 32)], lanes)})
    got = unpack_beats(result.outputs["sums"], 32, lanes).astype(np.uint32)
    assert np.array_equal(got, want)
    with np.errstate(all="ignore"):
        fa, fb = (x.view(np.float32).astype(np.float64) for x in (a, b))
        reached = classify(a, b, got, fa + fb)
    for hard_class in ["operand_zero", "operand_subnormal", "operand_inf", "operand_nan",
                       "operand_extreme_exp", "result_tie", "result_overflow",
                       "result_zero_from_nonzero", "result_subnormal"]:
        assert reached[hard_class] >= 100, f"stimulus reached {hard_class} only {reached}"


# ---------------------------------------------------------------- golden model and parameters

def test_golden_accumulates_in_order_and_is_accurate():
    """Golden C: sequential fp32 sums (the order matters for these data) within the
    sequential-summation bound |C - AB| <= gamma_K * |A||B|, gamma_K = K u / (1 - K u)."""
    rng = np.random.default_rng(3)
    rows, cols, k = 6, 5, 200
    a, b = ordinary_bf16(rng, (rows, k)), ordinary_bf16(rng, (k, cols))
    got = systolic_tile(a, b)
    fa = (a.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    fb = (b.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    gamma = k * 2.0**-24 / (1 - k * 2.0**-24)
    error = np.abs(got.view(np.float32).astype(np.float64) - fa @ fb)
    assert (error <= gamma * (np.abs(fa) @ np.abs(fb))).all()
    assert error.max() > 0, "data too easy: every sum exact"
    reverse = np.zeros((rows, cols), dtype=np.uint32)
    for kk in reversed(range(k)):
        reverse = f32_add(reverse, bf16_mul_f32(a[:, kk, None], b[None, kk, :]))
    assert (reverse != got).any(), "data cannot tell the summation order apart"
    minus_zero, one = np.array([[0x8000]], np.uint16), np.array([[0x3F80]], np.uint16)
    assert systolic_tile(minus_zero, one).item() == 0, "sums start from +0.0: +0 + -0 = +0"


def test_systolic_parameters_and_latency():
    # Components built only to read their parameters are never elaborated;
    # collect them here so Amaranth's "never used" warning stays in this test.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        assert SystolicArray(4, 4).latency == LATENCY
        assert (SystolicArray(3, 2).rows, SystolicArray(3, 2).cols) == (3, 2)
        for rows, cols in [(0, 4), (4, 0), (65, 1), (2.0, 2)]:
            with pytest.raises(ValueError, match="rows|cols"):
                SystolicArray(rows, cols)
        gc.collect()
