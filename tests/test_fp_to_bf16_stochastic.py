"""FP32ToBF16Stochastic: seeded stochastic rounding bit-exact against the golden model, and
unbiased.

The cocotb coroutine below plays two batches of beats: the first with the
states the reset seed gives, the second after loading a seed through the
``seed``/``load_seed`` configuration port. The pytest functions at the bottom
build the design, start it and check the results.
"""

import random

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, RisingEdge

from testbench.bfm.clock_reset import start_clock_and_reset
from testbench.bfm.sim_io import save_outputs, sim_args, sim_inputs
from testbench.bfm.stream import StreamSink, StreamSource
from testbench.bfm.watchdog import Watchdog
from testbench.golden.fp_vectors import hard_f32_values
from testbench.golden.transcendentals import f32_to_bf16_stochastic
from testbench.sim.build_cache import Design
from testbench.sim.packing import beats_to_ints, ints_to_beats, pack_beats, unpack_beats
from testbench.sim.runner import simulate

SEEDS = [1]
LANES = 4
RESET_SEED = 1
DESIGN = Design(f"fp32_to_bf16_sr_x{LANES}", "hdl.numerics.fp_to_bf16_stochastic:"
                "FP32ToBF16Stochastic", {"lanes": LANES, "seed": RESET_SEED})


@cocotb.test()
async def reset_seed_then_loaded_seed(dut):
    args = sim_args()
    inputs = sim_inputs()
    seed = cocotb.RANDOM_SEED
    dut.load_seed.value = 0
    dut.seed.value = 0
    await start_clock_and_reset(dut)
    source = StreamSource(dut, "i", dut.clk, random.Random(seed), args["in_stall"])
    sink = StreamSink(dut, "o", dut.clk, random.Random(seed + 1), args["out_stall"])
    watchdog = Watchdog(dut, dut.clk, [source, sink], idle_cycles=1000)
    cocotb.start_soon(watchdog.run())
    received = []
    for batch, load in [("first", None), ("second", args["loaded_seed"])]:
        beats = beats_to_ints(inputs[batch])
        if load is not None:
            await RisingEdge(dut.clk)
            dut.seed.value = load
            dut.load_seed.value = 1
            await RisingEdge(dut.clk)
            dut.load_seed.value = 0
        source.send(beats)
        await sink.wait_for(sink.count + len(beats))
        received.append(ints_to_beats(sink.received[-len(beats):], 2 * LANES))
        await ClockCycles(dut.clk, 8)
    assert sink.count == len(inputs["first"]) + len(inputs["second"]), "extra beats came out"
    save_outputs(first=received[0], second=received[1])


def _run(first, second, loaded_seed, seed, waves, run_name):
    result = simulate(DESIGN, "test_fp_to_bf16_stochastic", testcase="reset_seed_then_loaded_seed",
                      run_name=run_name, seed=seed, waves=waves,
                      args={"in_stall": 0.2, "out_stall": 0.2, "loaded_seed": loaded_seed},
                      inputs={"first": pack_beats([(first, 32)], LANES),
                              "second": pack_beats([(second, 32)], LANES)})
    return (unpack_beats(result.outputs["first"], 16, LANES),
            unpack_beats(result.outputs["second"], 16, LANES))


def _value(bf16):
    return (np.asarray(bf16, dtype=np.uint32) << 16).view(np.float32).astype(np.float64)


# Values between two bfloat16 neighbours (the low half is the chance of rounding up).
UNBIASED_VALUES = np.array([0x3F8040C1, 0xBF812345, 0x42FE7FFF, 0x00012345, 0x7F7FC000],
                           dtype=np.uint32)


def test_fp_to_bf16_stochastic_bit_exact(seed, waves, run_name):
    rng = np.random.default_rng([seed, 0xB16])
    first = hard_f32_values(rng, 100_000)
    repeats = 8_000
    second = np.concatenate([hard_f32_values(rng, 20_000), np.repeat(UNBIASED_VALUES, repeats)])
    loaded_seed = int(rng.integers(0, 1 << 32))
    got_first, got_second = _run(first, second, loaded_seed, seed, waves, run_name)
    want_first = f32_to_bf16_stochastic(first, LANES, RESET_SEED)
    want_second = f32_to_bf16_stochastic(second, LANES, loaded_seed)
    for name, x, got, want in [("reset seed", first, got_first, want_first),
                               ("loaded seed", second, got_second, want_second)]:
        bad = np.nonzero(got != want)[0]
        assert not len(bad), f"{name}: {len(bad)} of {len(x)} differ (seed {seed}): " + ", ".join(
            f"{x[i]:08x} expected {want[i]:04x} got {got[i]:04x}" for i in bad[:8])
    x = np.concatenate([first, second])
    got = np.concatenate([got_first, got_second])
    exp_field, frac = (x >> 23) & 0xFF, x & 0x7FFFFF
    assert (got[(exp_field == 0xFF) & (frac != 0)] == 0x7FC0).all()
    inf = (x & 0x7FFFFFFF) == 0x7F800000
    assert inf.sum() > 100 and (got[inf] == x[inf] >> 16).all()
    # Both neighbours occur, and the RTL's mean is the input value within 5 sigma.
    tail = got_second[20_000:].reshape(len(UNBIASED_VALUES), repeats)
    for v, results in zip(UNBIASED_VALUES, tail, strict=True):
        _assert_unbiased(v, results)


def _assert_unbiased(v, results):
    """Both neighbours occur; the chance of rounding up is the dropped half / 2**16 (within
    5 sigma), so the mean is the value (checked directly where both neighbours are finite)."""
    lo, hi = v >> 16, (v >> 16) + 1
    assert set(np.unique(results)) == {lo, hi}, f"{v:08x}: results {np.unique(results)}"
    n = len(results)
    p = (v & 0xFFFF) / 65536
    p_hat = (results == hi).mean()
    assert abs(p_hat - p) < 5 * np.sqrt(p * (1 - p) / n), f"{v:08x}: rounded up {p_hat} not {p}"
    if np.isfinite(_value(hi)):
        spacing = abs(_value(hi) - _value(lo))
        mean = _value(results).mean()
        exact = float(np.uint32(v).view(np.float32))
        assert abs(mean - exact) < 5 * spacing * np.sqrt(p * (1 - p) / n), (
            f"{v:08x}: mean {mean!r} vs {exact!r}")


def test_stochastic_rounding_unbiased_golden():
    """A million roundings of each value through the golden model (which the RTL matches)."""
    for v in UNBIASED_VALUES:
        _assert_unbiased(v, f32_to_bf16_stochastic(np.full(1_000_000, v, np.uint32), 16, 99))


def test_stochastic_rounding_lanes_and_seeds_differ():
    x = np.full(4096, 0x3F808000, dtype=np.uint32)
    a = f32_to_bf16_stochastic(x, 4, 5).reshape(-1, 4)
    b = f32_to_bf16_stochastic(x, 4, 6).reshape(-1, 4)
    assert not np.array_equal(a, b)
    for i in range(4):
        for j in range(i + 1, 4):
            assert not np.array_equal(a[:, i], a[:, j])
