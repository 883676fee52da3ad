"""``rdu bench simspeed`` on a tiny GEMM: every path bit-exact, and the same cycles in all.

The cocotb Runtime path runs with seeded random pauses on the host's AXI channels:
the host is idle on device memory while ``busy`` is high, so the window's cycles
must not move. Watchdogs: the Runtime's command timeout, a timer on the quiet
path, a cycle limit in the Amaranth busy watcher.
"""

import numpy as np
import pytest

from hdl.rdu.config import rdu_params
from testbench.cli.bench_simspeed import PATHS, gemm_schedule, measure, run_bench, run_cocotb

SEEDS = [1, 2]
TINY = (4, 8, 4)   # two kernels, about 270 cycles in the busy window


@pytest.mark.regress  # Amaranth's simulator runs the whole RDU top (`make bench` runs it too)
def test_simspeed_paths_agree_bit_exact(seed, run_name):
    data = measure(TINY, log=lambda _: None, run_prefix=run_name, seed=seed, host_stall=0.3)
    rows = {row["path"]: row for row in data["paths"]}
    assert list(rows) == list(PATHS)
    for path, row in rows.items():
        assert row["bit_exact"], f"{path}: result differs from the golden model (seed {seed})"
        assert row["cycles_per_second"] > 0
    cocotb, amaranth = rows["cocotb"], rows["amaranth"]
    assert (cocotb["busy_cycles"], cocotb["kernel_cycles"]) == (
        amaranth["busy_cycles"], amaranth["kernel_cycles"]), rows
    assert data["cycles_agree"] and data["bit_exact"]
    assert data["launches"] == 1  # one kernel: A, then B ordered after it, into the PMU
    # the kernels' cycles are part of the window
    assert 0 < cocotb["kernel_cycles"] < cocotb["busy_cycles"]
    assert rows["cocotb_quiet"]["python_calls"] > 0


@pytest.mark.regress  # two RDU runs for a property of the benchmark path (`make bench`)
def test_quiet_path_python_calls_do_not_grow_with_cycles(run_name):
    """Python off the per-cycle path: the calls in the window are a fixed tail (the
    doorbell's last handshakes, the edge callbacks), the same for a kernel 8x longer."""
    config = rdu_params("small")
    small, large = (run_cocotb(gemm_schedule(config, *shape), "cocotb_quiet",
                               run_name=f"{run_name}_{i}")
                    for i, shape in enumerate((TINY, (16, 16, 16))))
    assert small.bit_exact and large.bit_exact
    extra_cycles = large.busy_cycles - small.busy_cycles
    assert extra_cycles > 2 * small.busy_cycles, (small.busy_cycles, large.busy_cycles)
    assert abs(large.python_calls - small.python_calls) < extra_cycles / 20, (
        small.python_calls, large.python_calls, extra_cycles)


def test_gemm_schedule_lays_out_commands_after_tensors():
    schedule = gemm_schedule(rdu_params("small"), *TINY)
    tensor_end = max(a + np.asarray(x).nbytes for a, x in schedule.tensor_writes)
    command_start = min(a for a, _ in schedule.command_writes)
    assert tensor_end <= command_start
    table_address, entries = schedule.table
    assert entries == len(schedule.kernels) == schedule.launches
    table = dict(schedule.command_writes)[table_address].reshape(entries, 4)
    placed = dict(schedule.command_writes)
    for (image, arguments), (program, words, args_address, args_words) in zip(
            schedule.kernels, table, strict=True):
        assert list(placed[int(program)]) == list(image.words) and words == len(image.words)
        assert list(placed[int(args_address)]) == list(arguments)
        assert args_words == len(arguments)


def test_run_bench_prints_every_path_and_checks_its_floors(monkeypatch):
    """The table has a row per path of each preset, the build seconds, and the floors:
    cocotb at least 60% of the bare harness and 8x the -O0 build on "coe" and "tile2x2"."""
    def fake(preset, cocotb_vs_bare, fast_vs_o0, **_):
        row = {"busy_cycles": 100, "kernel_cycles": 40, "wall_seconds": 0.5,
               "cycles_per_second": 200.0, "speed_vs_bare": 1.0, "rest_seconds": 1.0,
               "bit_exact": True, "python_calls": 297}
        paths = PATHS if preset == "small" else ("bare_cpp", "cocotb", "cocotb_O0")
        return {"shape": [4, 8, 4], "preset": preset, "launches": 2, "quiet_vs_amaranth": 3.0,
                "cycles_agree": True, "bit_exact": True, "cocotb_vs_bare": cocotb_vs_bare,
                "fast_vs_O0": fast_vs_o0, "paths": [dict(row, path=p) for p in paths]}

    figures = {"small": (0.1, 1.0), "coe": (0.7, 9.0), "tile2x2": (0.5, 8.5)}
    monkeypatch.setattr("testbench.cli.bench_simspeed.measure",
                        lambda preset, **kw: fake(preset, *figures[preset]))
    monkeypatch.setattr("testbench.cli.bench_simspeed.build_seconds",
                        lambda preset, log: {"cold": 90.0, "ccache_warm": 20.0, "cached": 0.01})
    data, text = run_bench(lambda _: None, presets=list(figures))
    assert text.count(" ok") >= len(PATHS) + 2 * 3 and "window: 297" in text
    assert "90 s cold, 20 s ccache-warm, 0.01 s cached" in text
    floors = {(f["name"], f["label"]): f["passed"] for f in data["floors"]}
    assert floors == {("simspeed_vs_bare", "coe"): True, ("simspeed_vs_O0", "coe"): True,
                      ("simspeed_vs_bare", "tile2x2"): False,
                      ("simspeed_vs_O0", "tile2x2"): True}, floors
    assert "BELOW" in text
