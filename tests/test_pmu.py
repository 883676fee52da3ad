"""Pattern Memory Unit: random configurations, data and stalls, bit-exact against the golden model.

One simulation runs a batch of jobs back to back through the configuration
port (the banks keep their contents between jobs, as does the golden model).
The cocotb coroutine at the top runs inside the simulator; the pytest functions
below generate the jobs, compute the expected streams and sample coverage.
"""

import random
from math import prod
from pathlib import Path

import cocotb
import numpy as np
import pytest
from cocotb.triggers import ClockCycles, RisingEdge
from cocotb_coverage.coverage import CoverCross, CoverPoint, coverage_db

from pcu_pmu.pmu.config import AddressGenConfig, PMUConfig, Port, ReadLayout, WriteLayout
from pcu_pmu.pmu.params import PMUParams
from testbench.bfm.clock_reset import start_clock_and_reset
from testbench.bfm.scoreboard import Scoreboard
from testbench.bfm.sim_io import save_outputs, sim_args, sim_inputs
from testbench.bfm.stream import StreamSink, StreamSource
from testbench.bfm.watchdog import Watchdog
from testbench.golden.pmu import PMUModel, sweep_addresses
from testbench.sim.build_cache import Design
from testbench.sim.packing import beats_to_ints, pack_beats
from testbench.sim.runner import simulate
from testbench.sim.toolchain import SIM_BUILD

SEEDS = [1, 2]
PARAM_SETS = {"b4": PMUParams(banks=4, depth=64), "b16": PMUParams(banks=16, depth=256)}
STALLS = {"none": (0.0, 0.0), "in": (0.5, 0.0), "out": (0.0, 0.5), "both": (0.4, 0.4)}
MODES = ("plain", "transposed", "nbuffered")
CORNERS = ("bound_one", "max_depth", "nbuf_wrap")
JOBS_PER_RUN = 8
MAX_ITERATIONS = {"b4": 48, "b16": 96}  # per generator sweep: keeps a run to seconds


# --------------------------------------------------------------------------------------------
# cocotb side (runs inside the simulator)
# --------------------------------------------------------------------------------------------

def _vector_ints(rows: np.ndarray, width: int) -> list[int]:
    if rows.size == 0:
        return []
    return beats_to_ints(pack_beats([(rows.reshape(-1), width)], rows.shape[1]))


async def _record_job_ends(dut, watchdog, stamps: list):
    """Append the watchdog cycle at which ``busy`` falls (one job finished)."""
    was_busy = False
    while True:
        await RisingEdge(dut.clk)
        busy = bool(int(dut.busy.value))
        if was_busy and not busy:
            stamps.append(watchdog.cycles)
        was_busy = busy


@cocotb.test()
async def pmu_jobs(dut):
    """Play every job's configuration and data; compare both output streams beat by beat."""
    args = sim_args()
    data = sim_inputs()
    width = args["width"]
    seed = cocotb.RANDOM_SEED
    in_stall, out_stall = args["in_stall"], args["out_stall"]
    await start_clock_and_reset(dut)
    cfg = StreamSource(dut, "cfg", dut.clk, random.Random(seed + 1), in_stall)
    vec_in = StreamSource(dut, "vec_in", dut.clk, random.Random(seed + 2), in_stall)
    sca_in = StreamSource(dut, "sca_in", dut.clk, random.Random(seed + 3), in_stall)
    vec_board = Scoreboard("pmu vec_out", formatter=lambda v: f"{v:x}")
    sca_board = Scoreboard("pmu sca_out", formatter=lambda v: f"{v:x}")
    vec_out = StreamSink(dut, "vec_out", dut.clk, random.Random(seed + 4), out_stall,
                         on_beat=vec_board.receive)
    sca_out = StreamSink(dut, "sca_out", dut.clk, random.Random(seed + 5), out_stall,
                         on_beat=sca_board.receive)
    ends = [cfg, vec_in, sca_in, vec_out, sca_out]
    watchdog = Watchdog(dut, dut.clk, ends, idle_cycles=args["idle_cycles"],
                        max_cycles=args["max_cycles"], unit="pmu")
    cocotb.start_soon(watchdog.run())
    job_ends = []
    cocotb.start_soon(_record_job_ends(dut, watchdog, job_ends))

    vec_board.expect(_vector_ints(data["vec_out"], width))
    sca_board.expect([int(v) for v in data["sca_out"]])
    cfg.send([int(w) for w in data["cfg"]])
    vec_in.send(_vector_ints(data["vec_in"], width))
    sca_in.send([int(v) for v in data["sca_in"]])
    for source in (cfg, vec_in, sca_in):
        await source.wait_idle()
    await vec_out.wait_for(len(vec_board.expected))
    await sca_out.wait_for(len(sca_board.expected))
    while int(dut.busy.value):
        await RisingEdge(dut.clk)
    cycles = watchdog.cycles
    await ClockCycles(dut.clk, 50)  # anything extra would show up here
    vec_board.check_done()
    sca_board.check_done()
    for board, sink in ((vec_board, vec_out), (sca_board, sca_out)):
        assert board.matched == len(board.expected) == sink.count, board.summary()
        dut._log.info(board.summary())
    save_outputs(cycles=np.array(cycles), job_ends=np.array(job_ends),
                 vec_beats=np.array(vec_out.count), sca_beats=np.array(sca_out.count))


# --------------------------------------------------------------------------------------------
# job generation (pytest side)
# --------------------------------------------------------------------------------------------

def _side(rng, capacity: int, max_iterations: int, *, bound_one: bool, max_depth: bool,
          wild: bool) -> AddressGenConfig:
    """A generator sweep over (part of) a window of ``capacity`` local addresses.

    Dense strides in a random level order, sometimes reversed, sometimes shifted so
    the valid range cuts it (predication), sometimes arbitrary small strides that
    repeat addresses or leave the range. ``max_depth`` makes the sweep end on the
    last local address of a full-capacity window.
    """
    limit = min(capacity, max_iterations)
    bounds = [int(rng.integers(1, 9)) for _ in range(3)]
    if bound_one:
        bounds[int(rng.integers(0, 3))] = 1
    while prod(bounds) > limit:
        level = int(np.argmax(bounds))
        bounds[level] = max(1, bounds[level] // 2)
    order = list(rng.permutation(3))
    strides, step = [0, 0, 0], 1
    for level in order:
        strides[level] = step
        step *= bounds[level]
    base_rel = 0
    if not max_depth and rng.random() < 0.3:
        level = int(rng.integers(0, 3))
        base_rel += (bounds[level] - 1) * strides[level]
        strides[level] = -strides[level]
    span = prod(bounds)
    lo = int(rng.integers(0, 1 << 20))
    if max_depth:
        hi = lo + capacity
        base_rel += capacity - span
    elif wild:
        strides = [int(rng.integers(-6, 7)) for _ in range(3)]
        hi = lo + int(rng.integers(1, capacity + 1))
        base_rel = int(rng.integers(-8, capacity))
    else:
        hi = lo + int(rng.integers(span, capacity + 1)) if span <= capacity else lo + capacity
        if rng.random() < 0.3:  # the valid range cuts the sweep: predication
            base_rel += int(rng.integers(-span, span + 1))
        elif hi - lo > span:
            base_rel += int(rng.integers(0, hi - lo - span + 1))
    if rng.random() < 0.1:
        lo, hi = 0, hi - lo  # negative addresses wrap to huge unsigned ones: out of range
    return AddressGenConfig(base=(lo + base_rel) & 0xFFFFFFFF, bounds=tuple(bounds),
                            strides=tuple(strides), lo=lo, hi=hi)


def random_job(params: PMUParams, pset: str, rng, mode: str | None = None,
               corners: tuple = ()) -> PMUConfig:
    """A random executable configuration; ``mode`` and ``corners`` force coverage targets."""
    mode = mode or MODES[int(rng.integers(0, len(MODES)))]
    want = {c: (c in corners) or (not corners and rng.random() < 0.25) for c in CORNERS}
    max_n = params.depth // params.banks if mode == "transposed" else params.depth // 4
    if mode == "plain":
        n = 1
    elif mode == "nbuffered":
        n = 1 << int(rng.integers(1, min(3, max_n.bit_length() - 1) + 1))
    else:
        n = 1 << int(rng.integers(0, min(1, max_n.bit_length() - 1) + 1))
    passes = (int(rng.integers(n + 1, 2 * n + 2)) if want["nbuf_wrap"]
              else int(rng.integers(max(1, n if want["max_depth"] else 1), n + 1)))
    if mode == "transposed":
        write_port, write_layout = Port.VECTOR, WriteLayout.DIAGONAL
        read_port, read_layout = Port.VECTOR, ReadLayout.TRANSPOSED
    else:
        write_port = Port(int(rng.integers(0, 2)))
        read_port = Port(int(rng.integers(0, 2)))
        write_layout = (WriteLayout(int(rng.integers(0, 2))) if write_port is Port.VECTOR
                        else WriteLayout.PLAIN)
        read_layout = (ReadLayout(int(rng.integers(0, 2))) if read_port is Port.VECTOR
                       else ReadLayout.PLAIN)
    rows = params.depth // n
    config = PMUConfig(passes=passes, n_buffers=n,
                       bank_shift=int(rng.integers(0, rows.bit_length())),
                       write_port=write_port, write_layout=write_layout,
                       read_port=read_port, read_layout=read_layout)
    limit = MAX_ITERATIONS[pset]
    wild = not want["max_depth"] and rng.random() < 0.15
    write = _side(rng, config.capacity(params, write_port), limit,
                  bound_one=want["bound_one"], max_depth=want["max_depth"], wild=wild)
    read = _side(rng, config.capacity(params, read_port), limit,
                 bound_one=want["bound_one"] and rng.random() < 0.5, max_depth=False,
                 wild=rng.random() < 0.15)
    return config.replace(write=write, read=read).validate(params)


def job_mode(config: PMUConfig) -> str:
    if config.read_layout is ReadLayout.TRANSPOSED:
        return "transposed"
    return "nbuffered" if config.n_buffers > 1 else "plain"


def job_corners(params: PMUParams, config: PMUConfig, max_row_written: int) -> set:
    corners = set()
    if 1 in config.write.bounds or 1 in config.read.bounds:
        corners.add("bound_one")
    if max_row_written == params.depth - 1:
        corners.add("max_depth")
    if config.passes > config.n_buffers:
        corners.add("nbuf_wrap")
    return corners


# --------------------------------------------------------------------------------------------
# functional coverage (pytest side: sampled once per job that passed bit-exactly)
# --------------------------------------------------------------------------------------------

@CoverPoint("pmu.mode", xf=lambda mode, stall, corners: mode, bins=list(MODES))
@CoverPoint("pmu.stall", xf=lambda mode, stall, corners: stall, bins=list(STALLS))
@CoverPoint("pmu.corner", xf=lambda mode, stall, corners: corners, bins=list(CORNERS),
            rel=lambda corners, bin_: bin_ in corners, inj=False)
@CoverCross("pmu.mode_x_stall_x_corner", items=["pmu.mode", "pmu.stall", "pmu.corner"])
def sample_coverage(mode, stall, corners):
    """One job that ran bit-exactly in ``mode`` under ``stall`` and reached ``corners``."""


def coverage_percent() -> float:
    return coverage_db["pmu.mode_x_stall_x_corner"].cover_percentage


def write_coverage_report(directory: Path = SIM_BUILD / "coverage",
                          name: str = "pmu_coverage") -> Path:
    """Write this process's coverage database as ``name``.xml and .yml; return the XML path."""
    directory.mkdir(parents=True, exist_ok=True)
    xml = directory / f"{name}.xml"
    coverage_db.export_to_xml(filename=str(xml))
    coverage_db.export_to_yaml(filename=str(directory / f"{name}.yml"))
    return xml


# --------------------------------------------------------------------------------------------
# pytest side
# --------------------------------------------------------------------------------------------

def pmu_design(params: PMUParams) -> Design:
    return Design(f"pmu_b{params.banks}_d{params.depth}", "pcu_pmu.pmu.pmu:make_pmu",
                  params.to_json())


def memory_dump_job(params: PMUParams) -> PMUConfig:
    """Reads every row of every bank; its one write beat falls outside the empty range."""
    return PMUConfig(
        write=AddressGenConfig(base=0, bounds=(1, 1, 1), strides=(0, 0, 0), lo=0, hi=0),
        read=AddressGenConfig(base=0, bounds=(params.depth, 1, 1), strides=(1, 0, 0), lo=0,
                              hi=params.depth)).validate(params)


def make_inputs(params: PMUParams, jobs, rng):
    """Random input data for ``jobs``; the golden model's expected output streams."""
    model = PMUModel(params)
    cfg, vec_in, sca_in, vec_out, sca_out, facts = [], [], [], [], [], []
    top = 1 << params.width
    for config in jobs:
        count = model.input_beats(config)
        shape = (count, params.lanes) if config.write_port is Port.VECTOR else (count,)
        data = rng.integers(0, top, shape, dtype=np.uint64)
        result = model.run(config, data)
        cfg.extend(config.to_words())
        (vec_in if config.write_port is Port.VECTOR else sca_in).append(data)
        vec_out.append(result.vec_out)
        sca_out.append(result.sca_out)
        facts.append(result)

    def cat(arrays, shape):
        return np.concatenate(arrays) if arrays else np.zeros(shape, np.uint64)

    lanes = (0, params.lanes)
    inputs = {"cfg": np.array(cfg, np.uint64), "vec_in": cat(vec_in, lanes),
              "sca_in": cat(sca_in, 0), "vec_out": cat(vec_out, lanes),
              "sca_out": cat(sca_out, 0)}
    return inputs, facts


def run_jobs(pset: str, stall: str, jobs, seed: int, run_name: str, waves: bool = False):
    """Simulate ``jobs`` back to back, then dump the whole memory; the cocotb side asserts
    bit-exact outputs (so a stray write anywhere in the banks fails the run)."""
    params = PARAM_SETS[pset]
    rng = np.random.default_rng([seed, 7])
    inputs, facts = make_inputs(params, list(jobs) + [memory_dump_job(params)], rng)
    in_stall, out_stall = STALLS[stall]
    beats = sum(len(inputs[k]) for k in ("cfg", "vec_in", "sca_in", "vec_out", "sca_out"))
    reads = sum(c.passes * c.read.iterations for c in jobs)
    result = simulate(
        pmu_design(params), "test_pmu", testcase="pmu_jobs", run_name=run_name, seed=seed,
        waves=waves, inputs=inputs,
        args={"width": params.width, "in_stall": in_stall, "out_stall": out_stall,
              "idle_cycles": 2000, "max_cycles": 20 * (beats + reads) + 2000})
    assert int(result.outputs["vec_beats"]) == len(inputs["vec_out"])
    assert int(result.outputs["sca_beats"]) == len(inputs["sca_out"])
    for config, fact in zip(jobs, facts[:-1], strict=True):
        sample_coverage(job_mode(config), stall, job_corners(params, config,
                                                             fact.max_row_written))
    return result, inputs


@pytest.mark.parametrize("stall", list(STALLS))
@pytest.mark.parametrize("pset", list(PARAM_SETS))
def test_pmu_random_jobs(pset, stall, seed, waves, run_name):
    params = PARAM_SETS[pset]
    rng = np.random.default_rng([seed, params.banks, list(STALLS).index(stall)])
    modes = [MODES[i % len(MODES)] for i in range(JOBS_PER_RUN)]
    jobs = [random_job(params, pset, rng, mode=mode) for mode in modes]
    result, inputs = run_jobs(pset, stall, jobs, seed, run_name, waves)
    assert len(inputs["vec_out"]) + len(inputs["sca_out"]) > 0
    print(f"{pset} {stall} seed {seed}: {len(jobs)} jobs, "
          f"{int(result.outputs['cycles'])} cycles")


@pytest.mark.parametrize("pset", list(PARAM_SETS))
def test_pmu_throughput(pset, run_name):
    """No stalls: one beat per cycle per side, double buffering overlaps the two sides,
    and a transposed read is as fast as a plain one (diagonal striping: no bank conflict)."""
    params = PARAM_SETS[pset]

    def job(n, passes, rows, port=Port.VECTOR, write_layout=WriteLayout.PLAIN,
            read_layout=ReadLayout.PLAIN):
        side = AddressGenConfig(base=0, bounds=(params.banks, rows // params.banks, 1),
                                strides=(1, params.banks, 0), lo=0, hi=rows)
        return PMUConfig(write=side, read=side, passes=passes, n_buffers=n, write_port=port,
                         read_port=port, write_layout=write_layout,
                         read_layout=read_layout).validate(params)

    words = params.banks * params.depth  # wide counters: up to 4096 per level here
    full_sweep = PMUConfig(
        write=AddressGenConfig(base=0, bounds=(words // 4, 4, 1), strides=(1, words // 4, 0),
                               lo=0, hi=words),
        read=AddressGenConfig(base=words - 1, bounds=(words, 1, 1), strides=(-1, 0, 0),
                              lo=0, hi=words),
        write_port=Port.SCALAR, read_port=Port.SCALAR, bank_shift=2).validate(params)
    jobs = {
        "single buffer, 4 passes x 64 rows": job(1, 4, 64),
        "double buffer, 8 passes x 32 rows": job(2, 8, 32),
        "double buffer transposed, 8 x 32": job(2, 8, 32, write_layout=WriteLayout.DIAGONAL,
                                                read_layout=ReadLayout.TRANSPOSED),
        "double buffer scalar, 8 x 32 words": job(2, 8, 32, port=Port.SCALAR),
        "whole memory scalar, written up, read down": full_sweep,
    }
    result, _ = run_jobs(pset, "none", list(jobs.values()), seed=1, run_name=run_name)
    ends = [int(c) for c in result.outputs["job_ends"]]
    assert len(ends) == len(jobs) + 1, ends  # + the memory dump
    spans = np.diff([0] + ends[:-1])
    figures = dict(zip(jobs, spans, strict=True))
    for name, cycles in figures.items():
        print(f"PMU {pset} {name}: {cycles} cycles")
    # each job: config words + start, then the passes; a read beat lags its address by 1
    assert figures["single buffer, 4 passes x 64 rows"] <= 4 * (64 + 64) + 24
    assert figures["double buffer, 8 passes x 32 rows"] <= (8 + 1) * 32 + 24
    plain = figures["double buffer, 8 passes x 32 rows"]
    assert figures["double buffer transposed, 8 x 32"] == plain
    assert figures["double buffer scalar, 8 x 32 words"] <= (8 + 1) * 32 + 24
    assert figures["whole memory scalar, written up, read down"] <= 2 * words + 24


def test_coverage_report_helper_writes_xml_and_yaml(tmp_path):
    xml = write_coverage_report(tmp_path)
    assert "mode_x_stall_x_corner" in xml.read_text()
    assert (tmp_path / "pmu_coverage.yml").exists()
    assert coverage_db["pmu.mode_x_stall_x_corner"].size == len(MODES) * len(STALLS) * len(CORNERS)


@pytest.mark.regress
@pytest.mark.parametrize("pset", list(PARAM_SETS))
def test_pmu_coverage_closure(pset, waves, run_name):
    """Every mode x stall pattern x corner bin reached by a bit-exact job; report written."""
    params = PARAM_SETS[pset]
    for index, stall in enumerate(STALLS):
        rng = np.random.default_rng([index, 99, params.banks])
        jobs = [random_job(params, pset, rng, mode=mode, corners=(corner,))
                for mode in MODES for corner in CORNERS]
        run_jobs(pset, stall, jobs, seed=index + 1, run_name=f"{run_name}_{stall}", waves=waves)
    report = write_coverage_report(name=f"pmu_coverage_{pset}")
    assert coverage_percent() == 100.0, (
        f"PMU coverage {coverage_percent():.1f}% (report {report}); missing: " +
        ", ".join(str(b) for b, hits in coverage_db["pmu.mode_x_stall_x_corner"].detailed_coverage
                  .items() if hits == 0))


# --------------------------------------------------------------------------------------------
# golden model semantics (pure Python): what the RTL is checked against means what it says
# --------------------------------------------------------------------------------------------

def _dense(count: int, lo: int = 0, hi: int | None = None, base: int | None = None):
    hi = lo + count if hi is None else hi
    return AddressGenConfig(base=lo if base is None else base, bounds=(count, 1, 1),
                            strides=(1, 0, 0), lo=lo, hi=hi)


def test_golden_sweep_is_the_nested_loop(seed):
    rng = random.Random(seed)
    for _ in range(50):
        side = AddressGenConfig(base=rng.getrandbits(32), bounds=[rng.randint(1, 5) for _ in "abc"],
                                strides=[rng.randint(-40000, 40000) % 65536 - 32768
                                         for _ in "abc"])
        want = [(side.base + i0 * side.strides[0] + i1 * side.strides[1] +
                 i2 * side.strides[2]) % (1 << 32)
                for i2 in range(side.bounds[2]) for i1 in range(side.bounds[1])
                for i0 in range(side.bounds[0])]
        assert sweep_addresses(side).tolist() == want


def test_golden_transpose_by_diagonal_striping():
    params = PMUParams(banks=4, depth=16)
    tile = np.arange(16, dtype=np.uint64).reshape(4, 4) + 100
    model = PMUModel(params)
    config = PMUConfig(write=_dense(4, lo=8), read=_dense(4, lo=8),
                       write_layout=WriteLayout.DIAGONAL, read_layout=ReadLayout.TRANSPOSED)
    out = model.run(config, tile).vec_out
    assert np.array_equal(out, tile.T)
    for r in range(4):
        for c in range(4):
            assert model.mem[(r + c) % 4, r] == tile[r, c]  # every column spans all banks
    rows = model.run(config.replace(read_layout=ReadLayout.DIAGONAL), tile).vec_out
    assert np.array_equal(rows, tile)


def test_golden_scalar_bank_select_bits():
    params = PMUParams(banks=4, depth=16)
    words = np.arange(64, dtype=np.uint64)
    for shift in range(5):
        model = PMUModel(params)
        config = PMUConfig(write=_dense(64), read=_dense(64), bank_shift=shift,
                           write_port=Port.SCALAR, read_port=Port.SCALAR)
        assert np.array_equal(model.run(config, words).sca_out, words)
        for address in (1, 6, 37, 63):
            bank = (address >> shift) & 3
            row = (address & ((1 << shift) - 1)) | ((address >> (shift + 2)) << shift)
            assert model.mem[bank, row] == address


def test_golden_predication_skips_writes_and_reads():
    params = PMUParams(banks=4, depth=16)
    model = PMUModel(params)
    words = np.arange(10, dtype=np.uint64) + 1
    # the sweep visits 5..14 but only [8, 12) belongs to this PMU
    config = PMUConfig(write=_dense(10, lo=8, hi=12, base=5), read=_dense(10, lo=8, hi=12, base=5),
                       write_port=Port.SCALAR, read_port=Port.SCALAR)
    result = model.run(config, words)
    assert (result.writes, result.skipped_writes) == (4, 6)
    assert list(result.sca_out) == [4, 5, 6, 7]  # addresses 8..11 held words 4..7


def test_golden_n_buffering_keeps_passes_apart():
    params = PMUParams(banks=4, depth=16)
    model = PMUModel(params)
    beats = np.arange(5 * 8 * 4, dtype=np.uint64).reshape(40, 4)
    config = PMUConfig(write=_dense(8), read=_dense(8), passes=5, n_buffers=2)
    assert np.array_equal(model.run(config, beats).vec_out, beats)
    assert np.array_equal(model.mem[:, 8:].T, beats[24:32])  # pass 3 went to buffer 1


def test_invalid_configuration_is_rejected_before_simulation():
    bad = PMUConfig(write=_dense(4), read=_dense(4, hi=65), n_buffers=1)
    with pytest.raises(ValueError, match=r"read\.hi - read\.lo = 65 exceeds the 64 rows"):
        run_jobs("b4", "none", [bad], seed=1, run_name="must_not_run")
    assert not (SIM_BUILD / "runs" / "must_not_run").exists()
