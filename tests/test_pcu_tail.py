"""PCU tail operations: hard values through every tail unit of a whole PCU, bit-exact
against the golden model, and the stochastic rounder's reproducibility.

Each directed test runs all-PASS stages so the tail sees exactly the values
pushed in: zeros, subnormals, infinities, NaNs, extreme magnitudes and the
domain values of each function (tests/transcendental_checks.py). Stochastic
rounding is shown reproducible from the image (same seed, same bits, whatever
the stalls), seed-dependent, stepping on every beat whether emitted or not, and
always one of the two bfloat16 neighbours of its input.
"""

import cocotb
import numpy as np
import pytest
from pcu_common import PARAM_SETS, run_jobs, run_pcu_program
from transcendental_checks import domain_values

from hdl.numerics.fp_to_bf16_stochastic import lane_seed
from pcu_pmu.pcu.config import CounterConfig, Emit, PCUConfig, TailOp
from pcu_pmu.pcu.tail import LANE_SEED_STRIDE, TAIL_LATENCY, TAIL_UNITS
from testbench.golden.fp_vectors import SPECIAL_F32, hard_f32_values
from testbench.golden.pcu import apply_tail

SEEDS = [1]
PARAMS = PARAM_SETS["4x3"]
BEATS = 48  # per job: 192 values on 4 lanes

# Values at the edges of the stochastic rounder: exact bf16 values, values one ulp
# below the next bf16 value, the largest finite (may round to infinity).
_ROUNDING_EDGES = np.array([0x3F800000, 0x3F80FFFF, 0xBF80FFFF, 0x7F7FFFFF, 0xFF7FFFFF,
                            0x7F7F8001, 0x0000FFFF, 0x80008000, 0x00010000], dtype=np.uint32)

_DOMAIN = {TailOp.EXP: "f32_exp", TailOp.RECIP: "f32_recip", TailOp.RSQRT: "f32_rsqrt",
           TailOp.SILU: "f32_silu", TailOp.GELU: "f32_gelu"}


@cocotb.test()
async def pcu_program(dut):
    await run_pcu_program(dut)


def _pass_through(tail: TailOp, beats: int, **kwargs) -> PCUConfig:
    """All stages PASS, one pass of ``beats`` iterations (counter 0 innermost)."""
    counters = (CounterConfig(beats // 4), CounterConfig(4), CounterConfig(1))
    return PCUConfig(lanes=PARAMS.lanes, stages=PARAMS.stages, counters=counters, tail=tail,
                     **kwargs).validate(PARAMS)


def hard_values(rng, op: TailOp, count: int) -> np.ndarray:
    """Every special binary32 value, then the op's domain values and generic hard values."""
    parts = [SPECIAL_F32, _ROUNDING_EDGES]
    rest = count - sum(len(p) for p in parts)
    if op in _DOMAIN:
        parts.append(domain_values(_DOMAIN[op], rng, rest // 2))
    parts.append(hard_f32_values(rng, count - sum(len(p) for p in parts)))
    values = np.concatenate(parts).astype(np.uint32)
    assert len(values) == count
    return values


def bf16_neighbours(x: np.ndarray):
    """The two bfloat16 patterns around each binary32 ``x`` (equal when x is one)."""
    x = np.asarray(x, dtype=np.uint32)
    low = (x >> 16).astype(np.uint32)
    high = np.where(x & 0xFFFF, low + 1, low).astype(np.uint32)
    return low, high


# -- pure Python -------------------------------------------------------------------------------

def test_every_tail_op_has_a_unit():
    assert set(TAIL_UNITS) == set(TailOp)
    assert TAIL_LATENCY == max(unit.latency for unit in TAIL_UNITS.values() if unit)


def test_one_lane_rounders_match_lanes_of_a_multi_lane_rounder():
    """The tail seeds lane l's one-lane rounder with seed + l * LANE_SEED_STRIDE."""
    rng = np.random.default_rng(3)
    for seed in [0, 1, 0xFFFFFFFF, *rng.integers(0, 1 << 32, 20).tolist()]:
        for lane in range(64):
            shifted = (seed + lane * LANE_SEED_STRIDE) & 0xFFFFFFFF
            assert lane_seed(shifted, 0) == lane_seed(seed, lane)


def test_golden_stochastic_rounding_is_a_neighbour():
    rng = np.random.default_rng(4)
    x = hard_values(rng, TailOp.BF16_STOCHASTIC, 4000).reshape(-1, 4)
    got = apply_tail(_pass_through(TailOp.BF16_STOCHASTIC, BEATS, seed=9), x)
    _check_neighbours(x, got)


def _check_neighbours(x, got):
    x, got = np.asarray(x, dtype=np.uint32), np.asarray(got, dtype=np.uint32)
    nan = ((x >> 23) & 0xFF == 0xFF) & (x & 0x7FFFFF != 0)
    low, high = bf16_neighbours(x)
    ok = np.where(nan, got == 0x7FC0, (got == low) | (got == high))
    assert ok.all(), f"{np.count_nonzero(~ok)} results are not a bf16 neighbour of their input"
    assert (got[~nan & (x & 0xFFFF != 0)] != low[~nan & (x & 0xFFFF != 0)]).any(), \
        "nothing ever rounded up"
    assert (got[~nan & (x & 0xFFFF != 0)] == low[~nan & (x & 0xFFFF != 0)]).any(), \
        "nothing ever rounded down"


# -- RTL ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("op", [op for op in TailOp if op != TailOp.PASS], ids=lambda op: op.name)
def test_tail_op_hard_values(op, seed, waves, run_name):
    """Hard values through one tail op of a whole PCU, both emit modes, bit-exact."""
    rng = np.random.default_rng([seed, int(op)])
    jobs = []
    for emit in (Emit.EVERY, Emit.INNER_LAST):
        config = _pass_through(op, BEATS, emit=emit, seed=int(rng.integers(0, 1 << 32)))
        jobs.append((config, hard_values(rng, op, BEATS * PARAMS.lanes).reshape(BEATS, -1),
                     np.zeros(0, dtype=np.uint32)))
    out = run_jobs(PARAMS, jobs, test_module="test_pcu_tail", seed=seed, run_name=run_name,
                   waves=waves, pattern="heavy_both", stall_rng=rng)
    every = out["vec_out"][:BEATS]
    if op == TailOp.BF16_STOCHASTIC:
        _check_neighbours(jobs[0][1], every)
    elif op == TailOp.BF16:
        low, high = bf16_neighbours(jobs[0][1])
        assert ((every == low) | (every == high) | (every == 0x7FC0)).all()
    else:
        assert (every != jobs[0][1]).any(), f"{op.name} passed its inputs through unchanged"


def test_tail_op_switches_between_images(seed, waves, run_name):
    """Images with other tail ops back to back, under stalls, bit-exact: a unit left idle
    (held still) by the images before resumes in step with the tail."""
    rng = np.random.default_rng([seed, 99])
    ops = [TailOp.EXP, TailOp.GELU, TailOp.PASS, TailOp.EXP, TailOp.RSQRT, TailOp.SILU,
           TailOp.RECIP, TailOp.GELU, TailOp.BF16, TailOp.SILU]
    beats = 16
    jobs = [(_pass_through(op, beats),
             hard_values(rng, op, beats * PARAMS.lanes).reshape(beats, -1),
             np.zeros(0, dtype=np.uint32)) for op in ops]
    run_jobs(PARAMS, jobs, test_module="test_pcu_tail", seed=seed, run_name=run_name,
             waves=waves, pattern="heavy_both", stall_rng=rng)


def test_stochastic_rounding_reproducible(seed, waves, run_name):
    """Same image, same bits (other stalls, another image in between); another seed differs;
    the generator steps on beats that are not emitted."""
    rng = np.random.default_rng([seed, 77])
    x = hard_values(rng, TailOp.BF16_STOCHASTIC, BEATS * PARAMS.lanes).reshape(BEATS, -1)
    none = np.zeros(0, dtype=np.uint32)
    seed_a, seed_b = (int(s) for s in rng.integers(0, 1 << 32, 2))
    every_a = _pass_through(TailOp.BF16_STOCHASTIC, BEATS, seed=seed_a)
    jobs = [(every_a, x, none),
            (_pass_through(TailOp.BF16_STOCHASTIC, BEATS, seed=seed_b), x, none),
            (every_a, x, none),
            (_pass_through(TailOp.BF16_STOCHASTIC, BEATS, seed=seed_a, emit=Emit.INNER_LAST),
             x, none)]
    runs = [run_jobs(PARAMS, jobs, test_module="test_pcu_tail", seed=seed + n,
                     run_name=f"{run_name}_{pattern}", waves=waves, pattern=pattern,
                     stall_rng=np.random.default_rng([seed, n]))["vec_out"]
            for n, pattern in enumerate(("heavy_in", "heavy_out"))]
    for got in runs:
        a, b, again, last_inner = got[:BEATS], got[BEATS:2 * BEATS], got[2 * BEATS:3 * BEATS], \
            got[3 * BEATS:]
        assert (a == again).all(), "the same image gave different bits"
        assert (a != b).any(), "a different seed gave the same bits"
        inner = every_a.counters[0].bound
        assert (last_inner == a[inner - 1::inner]).all(), \
            "emitting only the last beat of each loop changed the rounding of the others"
        _check_neighbours(x, a)
    assert (runs[0] == runs[1]).all(), "other stalls gave other bits"
