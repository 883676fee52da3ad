"""Shared PCU testbench: random configurations and data, one cocotb program runner,
the golden-model check and the functional coverage model.

The cocotb side (:func:`run_pcu_program`) streams whole arrays in and checks every
output stream against the golden model's expectation with scoreboards; the pytest
side (:func:`run_jobs`) builds the jobs from a seed, computes the expectation, runs
the simulation and checks the returned streams again, bit for bit.
"""

import random
from pathlib import Path

import numpy as np

from pcu_pmu.pcu.config import (
    COUNTERS,
    CounterConfig,
    Emit,
    Mode,
    PCUConfig,
    PCUParams,
    ReduceOp,
    Src,
    StageConfig,
    StageOp,
    TailOp,
)
from testbench.golden.fp_vectors import hard_f32_values
from testbench.golden.pcu import run_program
from testbench.sim.build_cache import Design
from testbench.sim.runner import simulate
from testbench.sim.toolchain import SIM_BUILD

PARAM_SETS = {
    # The small unit also carries the (lanes x lanes) systolic array; the 16 x 6 one does
    # not, to keep its build time down (a 16 x 16 array is 256 more multipliers).
    "4x3": PCUParams(lanes=4, stages=3, vec_fifo_depth=2, scalar_fifo_depth=2, out_fifo_depth=2,
                     systolic=True),
    "16x6": PCUParams(lanes=16, stages=6, vec_fifo_depth=4, scalar_fifo_depth=4, out_fifo_depth=4),
}

# Stall probability ranges (sources, sinks); every pattern stalls both sides.
STALL_PATTERNS = {
    "light": ((0.05, 0.2), (0.05, 0.2)),
    "heavy_in": ((0.5, 0.8), (0.05, 0.2)),
    "heavy_out": ((0.05, 0.2), (0.6, 0.85)),
    "heavy_both": ((0.4, 0.7), (0.4, 0.7)),
}
SOURCES = ("cfg", "vec_in", "scalar_in")
SINKS = ("vec_out", "scalar_out", "done")

CORNERS = [
    "ctr0_bound1", "ctr1_bound1", "ctr2_bound1", "ctr0_bound_gt1", "reduce_SUM", "reduce_MAX",
    "reduce_NONE", *(f"tail_{op.name}" for op in TailOp), "emit_EVERY", "emit_INNER_LAST",
    "use_scalar", "passes_gt1", "config_sequence", "vec_fifo_full", "out_fifo_full",
    "negative_stride",
]


# The 16 x 6 unit is ~400 arithmetic units; compiled at -O2 its C++ takes many minutes,
# at -O0 a fraction of that, and the simulations here are short: the "quick" profile.


def pcu_design(params: PCUParams) -> Design:
    args = {"lanes": params.lanes, "stages": params.stages,
            "vec_fifo_depth": params.vec_fifo_depth, "scalar_fifo_depth": params.scalar_fifo_depth,
            "out_fifo_depth": params.out_fifo_depth}
    if params.systolic:
        args["systolic"] = True
    name = f"pcu_{params.lanes}x{params.stages}" + ("_sys" if params.systolic else "")
    return Design(name, "pcu_pmu.pcu.pcu:make_pcu", args, profile="quick")


# -- random stimulus -------------------------------------------------------------------------

def _imm(rng) -> int:
    if rng.random() < 0.3:
        return int(rng.integers(0, 40))
    return int(hard_f32_values(rng, 1)[0])


def random_stage(rng, use_scalar: bool, ops=None) -> StageConfig:
    ops = list(ops or StageOp)
    srcs = [s for s in Src if use_scalar or s != Src.SCALAR]
    weights = np.array([6.0 if s == Src.PREV else 1.0 for s in srcs])

    def pick():
        return srcs[int(rng.choice(len(srcs), p=weights / weights.sum()))]

    return StageConfig(op=ops[int(rng.integers(len(ops)))], a=pick(), b=pick(), c=pick(),
                       imm=_imm(rng))


def random_counters(rng, max_iterations: int):
    while True:
        bounds = [int(rng.choice([1, 1, 2, 3, 4, 5, 7])) for _ in range(COUNTERS)]
        if np.prod(bounds) <= max_iterations:
            break
    return tuple(CounterConfig(bound=b, stride=int(rng.integers(-300, 300)),
                               start=int(rng.integers(-(1 << 31), 1 << 31)))
                 for b in bounds)


def systolic_config(rng, params: PCUParams, max_iterations: int = 40) -> PCUConfig:
    """A SYSTOLIC-mode job: counter 0 is k (k_len), counters 1 and 2 count tiles."""
    return PCUConfig(lanes=params.lanes, stages=params.stages, mode=Mode.SYSTOLIC,
                     counters=random_counters(rng, max_iterations),
                     passes=int(rng.choice([1, 1, 2]))).validate(params)


def random_config(rng, params: PCUParams, *, ops=None, reduce=None,
                  max_iterations: int = 40, systolic_share: float = 0.0) -> PCUConfig:
    if params.systolic and rng.random() < systolic_share:
        return systolic_config(rng, params, max_iterations)
    use_scalar = bool(rng.random() < 0.5)
    if reduce is None:
        allowed = params.stages >= params.reduce_levels + 1
        reduce = ReduceOp(int(rng.choice([0, 0, 1, 2]))) if allowed else ReduceOp.NONE
    config = PCUConfig(
        lanes=params.lanes, stages=params.stages,
        stage=tuple(random_stage(rng, use_scalar, ops) for _ in range(params.stages)),
        counters=random_counters(rng, max_iterations),
        reduce=reduce, tail=TailOp(int(rng.integers(0, len(TailOp)))), use_scalar=use_scalar,
        emit=Emit(int(rng.integers(0, 2))), passes=int(rng.choice([1, 1, 2])),
        seed=int(rng.integers(0, 1 << 32)))
    for s in config.tree_stages():
        config = config.with_stage(s, op=StageOp.PASS)
    return config.validate(params)


def job_data(rng, params: PCUParams, config: PCUConfig):
    vectors = hard_f32_values(rng, config.passes * config.iterations * params.lanes)
    ints = rng.integers(0, 1 << 32, vectors.shape, dtype=np.uint64).astype(np.uint32)
    vectors = np.where(rng.random(vectors.shape) < 0.2, ints, vectors).astype(np.uint32)
    scalars = hard_f32_values(rng, config.passes * config.scalars_per_pass)
    return config, vectors.reshape(-1, params.lanes), scalars


def random_jobs(rng, params: PCUParams, count: int, **kwargs):
    return [job_data(rng, params, random_config(rng, params, **kwargs)) for _ in range(count)]


def stall_probabilities(rng, pattern: str) -> dict:
    (src_lo, src_hi), (sink_lo, sink_hi) = STALL_PATTERNS[pattern]
    stalls = {name: float(rng.uniform(src_lo, src_hi)) for name in SOURCES}
    stalls.update({name: float(rng.uniform(sink_lo, sink_hi)) for name in SINKS})
    return stalls


# -- pytest side -----------------------------------------------------------------------------

def run_jobs(params: PCUParams, jobs, *, test_module: str, seed: int, run_name: str,
             waves: bool = False, pattern: str = "light", stall_rng=None):
    """Simulate ``jobs`` one after another; assert every stream bit-exact; return outputs."""
    expected = run_program(params, jobs)
    stall_rng = stall_rng or np.random.default_rng(seed)
    stalls = stall_probabilities(stall_rng, pattern)
    lanes = params.lanes
    exp_vec = (np.array(expected.vec_out, dtype=np.uint32).reshape(-1, lanes)
               if expected.vec_out else np.zeros((0, lanes), dtype=np.uint32))
    inputs = {
        "cfg": np.array([w for config, _, _ in jobs for w in config.to_words()], dtype=np.uint32),
        "vec": np.concatenate([v for _, v, _ in jobs]).astype(np.uint32),
        "scalars": np.concatenate([s for _, _, s in jobs] + [np.zeros(0)]).astype(np.uint32),
        "exp_vec": exp_vec,
        "exp_scalar": np.array(expected.scalar_out, dtype=np.uint32),
        "exp_done": np.array(expected.done, dtype=np.uint32),
    }
    result = simulate(pcu_design(params), test_module, testcase="pcu_program", run_name=run_name,
                      seed=seed, waves=waves, args={"lanes": lanes, "stalls": stalls},
                      inputs=inputs)
    out = result.outputs
    for name, key in (("vec_out", "exp_vec"), ("scalar_out", "exp_scalar"), ("done", "exp_done")):
        got, want = out[name], inputs[key]
        assert got.shape == want.shape, f"{name}: {got.shape[0]} beats, expected {want.shape[0]}"
        if not len(want):
            continue
        bad = np.nonzero((got != want).reshape(len(want), -1).any(axis=1))[0]
        assert not len(bad), (f"{name} beat {bad[0]} differs (seed {seed}): got "
                              f"{np.asarray(got[bad[0]]).tolist()} expected "
                              f"{np.asarray(want[bad[0]]).tolist()}")
    sample_run(params, jobs, pattern, out)
    return out


# -- cocotb side -----------------------------------------------------------------------------

async def run_pcu_program(dut):
    """Stream configs, vectors and scalars in; check all three output streams; save them."""
    import cocotb
    from cocotb.triggers import ClockCycles

    from testbench.bfm.clock_reset import start_clock_and_reset
    from testbench.bfm.scoreboard import Scoreboard
    from testbench.bfm.sim_io import save_outputs, sim_args, sim_inputs
    from testbench.bfm.stream import StreamSink, StreamSource
    from testbench.bfm.watchdog import Watchdog

    args, data = sim_args(), sim_inputs()
    lanes, stalls, seed = args["lanes"], args["stalls"], cocotb.RANDOM_SEED

    def to_int(row):
        return int.from_bytes(np.asarray(row, dtype="<u4").tobytes(), "little")

    await start_clock_and_reset(dut)
    ends = {}
    for n, name in enumerate(SOURCES):
        ends[name] = StreamSource(dut, name, dut.clk, random.Random(seed * 16 + n), stalls[name])
    boards = {
        "vec_out": Scoreboard("pcu vec_out", formatter=lambda v: f"{v:0{8 * lanes}x}"),
        "scalar_out": Scoreboard("pcu scalar_out", formatter=lambda v: f"{v:08x}"),
        "done": Scoreboard("pcu done", formatter=str),
    }
    for n, name in enumerate(SINKS):
        ends[name] = StreamSink(dut, name, dut.clk, random.Random(seed * 16 + 8 + n),
                                stalls[name], on_beat=boards[name].receive)
    boards["vec_out"].expect([to_int(row) for row in data["exp_vec"]])
    boards["scalar_out"].expect([int(x) for x in data["exp_scalar"]])
    boards["done"].expect([int(x) for x in data["exp_done"]])
    watchdog = Watchdog(dut, dut.clk, ends.values(), idle_cycles=3000, unit="pcu")
    cocotb.start_soon(watchdog.run())
    ends["cfg"].send([int(w) for w in data["cfg"]])
    ends["vec_in"].send([to_int(row) for row in data["vec"]])
    ends["scalar_in"].send([int(x) for x in data["scalars"]])
    waits = [cocotb.start_soon(ends[name].wait_for(len(boards[name].expected)))
             for name in SINKS]
    for task in waits:
        await task
    cycles = watchdog.cycles
    await ClockCycles(dut.clk, 100)  # anything extra would arrive in this time
    for name in SOURCES:
        assert ends[name].pending == 0, f"{name}: {ends[name].pending} beats never taken"
    for board in boards.values():
        board.check_done()
        dut._log.info(board.summary())
    assert not int(dut.cfg_error.value), "the unit rejected a configuration image"
    received = ends["vec_out"].received
    save_outputs(
        vec_out=np.array([[(v >> (32 * i)) & 0xFFFFFFFF for i in range(lanes)] for v in received],
                         dtype=np.uint32).reshape(-1, lanes),
        scalar_out=np.array(ends["scalar_out"].received, dtype=np.uint32),
        done=np.array(ends["done"].received, dtype=np.uint32),
        cycles=np.array(cycles), vec_fifo_peak=np.array(int(dut.vec_fifo_peak.value)),
        out_fifo_peak=np.array(int(dut.out_fifo_peak.value)))


# -- functional coverage -----------------------------------------------------------------------

def _coverage():
    from cocotb_coverage.coverage import CoverCross, CoverPoint

    @CoverPoint("pcu.simd.op", xf=lambda op, stall: op, bins=[op.name for op in StageOp])
    @CoverPoint("pcu.simd.stall", xf=lambda op, stall: stall, bins=list(STALL_PATTERNS))
    @CoverCross("pcu.op_x_stall", items=["pcu.simd.op", "pcu.simd.stall"])
    def sample_op(op, stall):
        pass

    @CoverPoint("pcu.mode", xf=lambda mode, stall, params: mode, bins=[m.name for m in Mode])
    @CoverPoint("pcu.mode.stall", xf=lambda mode, stall, params: stall,
                bins=list(STALL_PATTERNS))
    @CoverPoint("pcu.mode.params", xf=lambda mode, stall, params: params,
                bins=list(PARAM_SETS))
    @CoverCross("pcu.mode_x_stall_x_params", items=["pcu.mode", "pcu.mode.stall",
                                                    "pcu.mode.params"],
                ign_bins=[("SYSTOLIC", None, name) for name, p in PARAM_SETS.items()
                          if not p.systolic])
    def sample_mode(mode, stall, params):
        pass

    @CoverPoint("pcu.corner", xf=lambda name, params: name, bins=CORNERS)
    @CoverPoint("pcu.corner.params", xf=lambda name, params: params, bins=list(PARAM_SETS))
    @CoverCross("pcu.corner_x_params", items=["pcu.corner", "pcu.corner.params"])
    def sample_corner(name, params):
        pass

    return sample_op, sample_mode, sample_corner


COVERAGE_GOALS = ["pcu.op_x_stall", "pcu.mode_x_stall_x_params", "pcu.corner_x_params"]
_SAMPLERS = None


def sample_run(params: PCUParams, jobs, pattern: str, outputs) -> None:
    """Record what one simulation exercised in the coverage database."""
    global _SAMPLERS
    if _SAMPLERS is None:
        _SAMPLERS = _coverage()
    sample_op, sample_mode, sample_corner = _SAMPLERS
    pname = next(name for name, p in PARAM_SETS.items() if p == params)
    corners = set()
    for config, _, _ in jobs:
        sample_mode(Mode(config.mode).name, pattern, pname)
        if config.mode == Mode.SIMD:
            tree = config.tree_stages()
            for s, st in enumerate(config.stage):
                if s not in tree:
                    sample_op(StageOp(st.op).name, pattern)
        for k, counter in enumerate(config.counters):
            if counter.bound == 1:
                corners.add(f"ctr{k}_bound1")
            if counter.stride < 0 and counter.bound > 1:
                corners.add("negative_stride")
        if config.counters[0].bound > 1:
            corners.add("ctr0_bound_gt1")
        corners |= {f"reduce_{ReduceOp(config.reduce).name}", f"tail_{TailOp(config.tail).name}",
                    f"emit_{Emit(config.emit).name}"}
        if config.use_scalar:
            corners.add("use_scalar")
        if config.passes > 1:
            corners.add("passes_gt1")
    if len(jobs) > 1:
        corners.add("config_sequence")
    if int(outputs["vec_fifo_peak"]) == params.vec_fifo_depth:
        corners.add("vec_fifo_full")
    if int(outputs["out_fifo_peak"]) == params.out_fifo_depth:
        corners.add("out_fifo_full")
    for corner in sorted(corners):
        sample_corner(corner, pname)


def coverage_report(name: str) -> dict:
    """Write the coverage database to sim_build/coverage/<name>.{xml,yml}; return percentages."""
    from cocotb_coverage.coverage import coverage_db

    folder = SIM_BUILD / "coverage"
    folder.mkdir(parents=True, exist_ok=True)
    coverage_db.export_to_xml(str(Path(folder, f"{name}.xml")))
    coverage_db.export_to_yaml(str(Path(folder, f"{name}.yml")))
    return {key: coverage_db[key].cover_percentage for key in COVERAGE_GOALS}


def missing_bins(key: str) -> list:
    from cocotb_coverage.coverage import coverage_db

    return [b for b, hits in coverage_db[key].detailed_coverage.items() if hits == 0]
