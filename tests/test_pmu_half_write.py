"""PMU half-word writes: two streams fill the two 16-bit halves of the same rows.

The GEMM operand pattern: a first configuration writes the A halves (bits 0-15)
of ``count`` tiles of ``kc`` rows; a second writes the B halves (bits 16-31) and
reads the rows back, which must be exactly the packed words (the low half of a,
the high half of b: checked against that formula, and the golden model against
the RTL). Every input word carries random bits in the half it must
not write. Random half-write configurations follow (N-buffering, diagonal
layout, predication, both halves of a row in one pass), then an ordinary job and
a dump of the whole memory. The simulation is the PMU testbench of
``tests/test_pmu.py`` (random stalls on every stream, watchdog, scoreboards).
"""

import numpy as np
import pytest
from test_pmu import (
    PARAM_SETS,
    STALLS,
    _side,
    make_inputs,
    memory_dump_job,
    random_job,
    run_jobs,
)

from pcu_pmu.pmu.config import AddressGenConfig, PMUConfig, Port, ReadLayout, WriteLayout
from pcu_pmu.pmu.params import PMUParams
from testbench.golden.pmu import PMUModel

SEEDS = [1, 2]
PSET = "b4"
KC, TILES = 11, 4  # 44 of the 64 rows
RANDOM_JOBS = 5
MAX_ITERATIONS = 48


def _dense(count: int, base: int = 0, lo: int = 0, hi: int | None = None) -> AddressGenConfig:
    return AddressGenConfig(base=base, bounds=(count, 1, 1), strides=(1, 0, 0), lo=lo,
                            hi=lo + count if hi is None else hi)


def gemm_operand_jobs(params: PMUParams, kc: int, tiles: int) -> list[PMUConfig]:
    """A halves into rows ``0 .. kc*tiles-1``, then B halves and the read of those rows."""
    rows = kc * tiles
    nothing = AddressGenConfig(base=0, bounds=(1, 1, 1), strides=(0, 0, 0), lo=0, hi=0)
    a_job = PMUConfig(write=_dense(rows, hi=2 * params.depth), read=nothing, half_write=True)
    b_job = PMUConfig(write=_dense(rows, base=params.depth, hi=2 * params.depth),
                      read=_dense(rows), half_write=True)
    return [a_job.validate(params), b_job.validate(params)]


def random_half_job(params: PMUParams, rng) -> PMUConfig:
    """Random sweeps over the doubled write range of 1, 2 or 4 buffers."""
    n = 1 << int(rng.integers(0, 3))
    config = PMUConfig(
        n_buffers=n, passes=int(rng.integers(1, n + 2)), half_write=True,
        write_layout=WriteLayout(int(rng.integers(0, 2))),
        read_port=Port(int(rng.integers(0, 2))),
        bank_shift=int(rng.integers(0, (params.depth // n).bit_length())))
    if config.read_port is Port.VECTOR:
        config = config.replace(read_layout=ReadLayout(int(rng.integers(0, 2))))
    rows = config.buffer_rows(params)
    if rng.random() < 0.5:
        # both halves of each row in one pass: half select is the inner level
        count = int(rng.integers(1, min(rows, MAX_ITERATIONS // 2) + 1))
        lo = int(rng.integers(0, 1 << 16))
        first = int(rng.integers(0, rows - count + 1))
        write = AddressGenConfig(base=lo + first, bounds=(2, count, 1), strides=(rows, 1, 0),
                                 lo=lo, hi=lo + 2 * rows)
    else:
        write = _side(rng, config.write_capacity(params), MAX_ITERATIONS, bound_one=False,
                      max_depth=rng.random() < 0.3, wild=rng.random() < 0.3)
    read = _side(rng, config.capacity(params, config.read_port), MAX_ITERATIONS,
                 bound_one=False, max_depth=False, wild=rng.random() < 0.2)
    return config.replace(write=write, read=read).validate(params)


def test_golden_half_write_packs_two_streams():
    """The model's packed rows are ``a & 0xffff | b & 0xffff0000``, whatever else a and b hold."""
    params = PMUParams(banks=4, depth=16)
    rng = np.random.default_rng(5)
    a = rng.integers(0, 1 << 32, (3, 4), dtype=np.uint64)
    b = rng.integers(0, 1 << 32, (6, 4), dtype=np.uint64)
    model = PMUModel(params)
    a_job, b_job = gemm_operand_jobs(params, 3, 2)
    assert model.run(a_job, np.concatenate([a, a])).vec_out.size == 0
    packed = model.run(b_job, b).vec_out
    assert np.array_equal(packed, (np.concatenate([a, a]) & 0xFFFF) | (b & 0xFFFF0000))
    # The half bit sits just above a buffer's rows: with 2 buffers, bit 3 of 16 rows.
    two = PMUConfig(write=_dense(16, hi=16), read=_dense(8), n_buffers=2, half_write=True)
    words = rng.integers(0, 1 << 32, (16, 4), dtype=np.uint64)
    got = PMUModel(params).run(two.validate(params), words).vec_out
    assert np.array_equal(got, (words[:8] & 0xFFFF) | (words[8:] & 0xFFFF0000))


def test_half_write_config_rules():
    params = PMUParams(banks=4, depth=16)
    base = PMUConfig(write=_dense(32), read=_dense(16), half_write=True)
    assert PMUConfig.from_bytes(base.to_bytes()) == base
    assert base.to_bytes()[52] == 1 << 5
    base.validate(params)
    with pytest.raises(ValueError, match=r"write\.hi - write\.lo = 33 exceeds the 32 half-rows"):
        base.replace(write=_dense(33)).validate(params)
    with pytest.raises(ValueError, match="half_write needs write_port = VECTOR"):
        base.replace(write_port=Port.SCALAR, write=_dense(16)).validate(params)
    with pytest.raises(ValueError, match="half_write must be a bool"):
        base.replace(half_write=1).to_bytes()
    with pytest.raises(ValueError, match=r"write\.hi - write\.lo = 32 exceeds the 16 rows"):
        base.replace(half_write=False).validate(params)


@pytest.mark.parametrize("stall", list(STALLS))
def test_pmu_half_write_gemm_operands(stall, seed, waves, run_name):
    params = PARAM_SETS[PSET]
    rng = np.random.default_rng([seed, 16, list(STALLS).index(stall)])
    jobs = gemm_operand_jobs(params, KC, TILES)
    jobs += [random_half_job(params, rng) for _ in range(RANDOM_JOBS)]
    jobs.append(random_job(params, PSET, rng, mode="plain"))
    # run_jobs draws the beats from the same generator as make_inputs here: the streams
    # checked below are the ones the simulation compares beat by beat.
    expected, _ = make_inputs(params, [*jobs, memory_dump_job(params)],
                              np.random.default_rng([seed, 7]))
    a_beats = expected["vec_in"][:KC * TILES]
    b_beats = expected["vec_in"][KC * TILES:2 * KC * TILES]
    packed = expected["vec_out"][:KC * TILES]
    assert np.array_equal(packed, (a_beats & 0xFFFF) | (b_beats & 0xFFFF0000))
    assert np.any(a_beats >> 16) and np.any(b_beats & 0xFFFF), "the other halves carry bits"
    result, inputs = run_jobs(PSET, stall, jobs, seed, run_name, waves)
    assert np.array_equal(inputs["vec_out"], expected["vec_out"])
    print(f"half write {stall} seed {seed}: {len(jobs)} jobs, "
          f"{int(result.outputs['cycles'])} cycles")
