"""``rdu bench`` exits non-zero when a figure is below its floor (measurements faked, fast)."""

import json

import pytest

from testbench.cli.bench_floors import FLOORS, check, exit_status
from testbench.cli.main import main


def _bench_json(capsys, part: str) -> tuple[int, dict]:
    status = main(["bench", part, "--json", "--quiet"])
    return status, json.loads(capsys.readouterr().out)


def test_check_compares_against_the_table():
    floor = FLOORS["hbm_seq_read"].floor
    assert check("hbm_seq_read", floor).passed
    assert not check("hbm_seq_read", floor - 0.01).passed
    assert exit_status([check("hbm_seq_read", floor), check("systolic_k256", 0.0)]) == 1
    assert exit_status([]) == 0
    with pytest.raises(KeyError):
        check("no_such_figure", 1.0)


@pytest.mark.parametrize("k256_percent, status", [(89.9, 1), (90.0, 0), (99.1, 0)])
def test_bench_pcu_exit_follows_the_k256_floor(monkeypatch, capsys, k256_percent, status):
    def fake(k_values, rows, cols, log):
        return [{"k": k, "rows": rows, "cols": cols, "tiles": 4, "cycles": 100,
                 "useful_macs": 1, "peak_macs": 1, "latency": 6,
                 "utilisation": k256_percent / 100 if k == 256 else 0.5} for k in k_values]

    monkeypatch.setattr("testbench.cli.bench_pcu.systolic_utilisation", fake)
    got, data = _bench_json(capsys, "pcu")
    assert got == status
    k256 = next(row for row in data["gemm"] if row["k"] == 256)
    assert k256["floor"] == FLOORS["systolic_k256"].floor
    assert k256["passed"] == (status == 0)
    # K = 16 has no floor: its 50% does not fail the bench
    assert "floor" not in data["gemm"][0]
    assert main(["bench", "pcu", "--quiet"]) == status
    text = capsys.readouterr().out
    assert ("floor 90 BELOW" in text) == (status == 1)
    assert ("BELOW FLOOR systolic_k256" in text) == (status == 1)


@pytest.mark.parametrize("hbm, copy, status", [(85.0, 90.0, 0), (84.9, 95.0, 1),
                                               (90.0, 89.9, 1)])
def test_bench_mem_exit_follows_hbm_and_copy_floors(monkeypatch, capsys, hbm, copy, status):
    fake = {"hbm/seq_read": {"percent_of_peak": hbm, "row_hit_rate": 0.9},
            "ddr/random_read": {"percent_of_peak": 1.0, "row_hit_rate": 0.0},
            "copy_ddr_to_hbm": {"percent_of_ddr_peak": copy, "bytes": 8 << 20}}
    monkeypatch.setattr("testbench.cli.bench_mem.bench_memory", lambda: fake)
    got, data = _bench_json(capsys, "mem")
    assert got == status
    assert data["hbm/seq_read"]["passed"] == (hbm >= 85.0)
    assert data["copy_ddr_to_hbm"]["passed"] == (copy >= 90.0)
    assert {f["name"] for f in data["floors"]} == {"hbm_seq_read", "ddr_to_hbm_copy"}


def _link_direction(goodput: float) -> dict:
    counts = ("flits", "injected_flips", "injected_drops", "frames_damaged",
              "detected_crc_errors", "detected_framing_errors", "replayed_frames",
              "lost_or_reordered", "duplicated", "corrupted_words", "socket_errors",
              "protocol_violations", "protocol_first_rule", "frames", "frames_ok")
    return {**dict.fromkeys(counts, 0), "packets_ok": 1, "packets_expected": 1,
            "goodput_words_per_cycle": goodput, "mean_latency_cycles": 1.0}


@pytest.mark.parametrize("slow_point, status", [(None, 0), ((48, 4), 1)])
def test_bench_link_exit_follows_every_sweep_point(monkeypatch, capsys, slow_point, status):
    def fake(run, run_name, log):
        # 1 word per cycle is above every bound (payload efficiency <= 0.8)
        goodput = 0.0 if (run.latency, run.credits) == slow_point else 1.0
        return {"ab": _link_direction(goodput), "ba": _link_direction(goodput),
                "stats": {}, "settings": {}}

    monkeypatch.setattr("testbench.cli.bench_link.run_link", fake)
    got, data = _bench_json(capsys, "link")
    assert got == status
    below = [(r["latency"], r["credits"]) for r in data["goodput"] if not r["passed"]]
    assert below == ([] if slow_point is None else [slow_point])


@pytest.mark.parametrize("share, status", [(0.90, 0), (0.78, 1)])
def test_bench_coe_exit_follows_the_largest_copy(monkeypatch, capsys, share, status):
    copies = [{"bytes": size, "cycles": 1, "ideal_cycles": 1.0, "share_of_peak": s}
              for size, s in ((1024, 0.4), (16384, share))]
    summary = {"switches": 2, "bytes": {"ddr_to_hbm": 64}, "cycles": {"switch": 10}}
    monkeypatch.setattr("testbench.cli.bench_coe._copy_cycles", lambda log: copies)
    points = []
    monkeypatch.setattr("testbench.cli.bench_coe.experts_ready", lambda *_: None)
    monkeypatch.setattr("testbench.cli.bench_coe._session",
                        lambda overrides, log=None: points.append(overrides) or summary)
    monkeypatch.setattr("testbench.cli.bench_coe._sharded", lambda log: [])
    got, data = _bench_json(capsys, "coe")
    assert got == status
    # only the largest block has a floor: the 1 KiB copy's 40% is mostly latency
    assert [c.get("passed") for c in data["copies"]] == [None, status == 0]
    assert points == [{}, {"switch_from": "host", "host_gbps": 64.0},
                      {"switch_from": "host", "host_gbps": 32.0}]
