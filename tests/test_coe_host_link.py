"""The host-link baseline and the live progress of a CoE session: switches written from host
memory over the host port throttled to a link rate, every result still bit-exact, the
throttle never beaten; progress lines arrive from the simulator while it runs."""

import itertools
import json
import threading
import time

import pytest
from coe_common import expert_directory

from hdl.rdu.config import rdu_params
from testbench.coe.demo_session import run_session
from testbench.coe.plan import Run, Switch
from testbench.coe.progress import ProgressFollower
from testbench.compiler.transformer import DecoderShape
from testbench.runtime.host_link import link_bytes_per_cycle, link_pauses

CONFIG = rdu_params("coe")
BEAT = CONFIG.vector_bits // 8
SHAPE = DecoderShape(d_model=8, heads=1, head_dim=4, d_ff=8, tokens=4)


@pytest.mark.parametrize("rate", [0.25, 0.91, 5.0, 16.0, 40.0])
def test_link_pauses_never_beat_the_link(rate):
    window = 4000
    sent = [0]
    for cycle, paused in enumerate(itertools.islice(link_pauses(rate, BEAT), window), 1):
        sent.append(sent[-1] + (0 if paused else BEAT))
        # at no point more bytes than the link delivered, plus the one beat it may hold
        assert sent[-1] <= rate * cycle + BEAT, (rate, cycle, sent[-1])
    achieved = sent[-1] / window
    assert achieved == pytest.approx(min(rate, BEAT), rel=0.01)


def test_link_rate_from_bandwidth_and_clock():
    assert link_bytes_per_cycle(64, 1000) == pytest.approx(64.0)
    assert link_bytes_per_cycle(32, 500) == pytest.approx(64.0)
    with pytest.raises(ValueError):
        link_bytes_per_cycle(0, 1000)


def test_progress_follower_reports_lines_as_they_are_appended(tmp_path):
    path = tmp_path / "progress"
    seen, times = [], []

    def writer():
        for k in range(5):
            with open(path, "a") as report:
                report.write(f"line {k}")  # a partial line is not reported yet
                report.flush()
                time.sleep(0.02)
                report.write("\n")
            time.sleep(0.05)

    with ProgressFollower(path, lambda line: (seen.append(line), times.append(time.time())),
                          poll_seconds=0.01):
        thread = threading.Thread(target=writer)
        thread.start()
        thread.join()
        end = time.time()
        time.sleep(0.05)
    assert seen == [f"line {k}" for k in range(5)]
    # reported while the writer was still going, not only at exit
    assert times[0] < end


@pytest.fixture(scope="module")
def experts_dir(tmp_path_factory):
    return expert_directory(tmp_path_factory, 4, SHAPE, seed=7)


def test_host_link_session_bit_exact_and_throttled(experts_dir, seed, run_name, waves):
    rate = 0.91  # bytes per cycle: DDR-tier peak x 64 GB/s / 1 TB/s
    lines = []
    run = run_session(CONFIG, experts_dir, shape=SHAPE, requests=2, trace_seed=seed, zipf=0.5,
                      max_tokens=2, slots=1, switch_from="host", host_bytes_per_cycle=rate,
                      run_name=run_name, seed=seed, waves=waves, progress=lines.append)
    assert run.mismatches == [], run.mismatches
    steps = run.plan.steps
    runs = [s for s in steps if isinstance(s, Run)]
    assert len(lines) == len(runs) == 2
    for k, (line, step) in enumerate(zip(lines, runs, strict=True), 1):
        assert line.startswith(f"[{k}/2] request {step.request}: expert {step.expert} "), line
    switches = [i for i, s in enumerate(steps) if isinstance(s, Switch)]
    assert switches
    for index in switches:
        nbytes, cycles = steps[index].nbytes, run.cycles[index]
        # the link's pace bounds the write from below; AXI overhead adds little on top
        assert nbytes / rate - BEAT / rate <= cycles <= 1.2 * nbytes / rate + 100, (
            index, nbytes, cycles)
    summary = run.summary
    assert summary["switch_from"] == "host"
    assert summary["bytes"]["host_link_to_hbm"] == sum(steps[i].nbytes for i in switches)
    assert summary["bytes"]["host_to_ddr"] == 0 and "ddr_to_hbm" not in summary["bytes"]


def test_cli_json_stays_on_stdout_progress_on_stderr(experts_dir, tmp_path, seed, capsys):
    from testbench.cli.main import main

    argv = ["coe", "run", "--experts", str(experts_dir), "--out", str(tmp_path / "out"),
            "--d", "8", "--heads", "1", "--head-dim", "4", "--f", "8", "--cache-tokens", "4",
            "--requests", "1", "--max-tokens", "2",
            "--slots", "1", "--switch-from", "host", "--host-gbps", "32", "--trace-seed",
            str(seed), "--seed", str(seed), "--json"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)  # nothing but the JSON document on stdout
    assert summary["switch_from"] == "host" and summary["mismatches"] == []
    assert summary["host_bytes_per_cycle"] == pytest.approx(0.455, abs=0.001)
    assert summary["checked"] == 2  # one routing, one decoder step
    assert "[1/1] request " in captured.err
    assert "[1/1]" not in captured.out
