"""``rdu link`` and ``rdu bench link``: figures as JSON, bad input as a clear error."""

import json

import pytest

from testbench.cli.main import main


def test_rdu_link_json_reports_clean_delivery(capsys):
    status = main(["link", "--flits", "3000", "--error-rate", "1e-2", "--credits", "16",
                   "--latency", "6", "--seed", "2", "--json", "--both"])
    captured = capsys.readouterr()
    assert status == 0, captured.out
    report = json.loads(captured.out)
    for d in ("ab", "ba"):
        r = report[d]
        assert r["ok"] and r["packets_ok"] == r["packets_expected"] > 0, r
        assert r["injected_flips"] + r["injected_drops"] > 0, r
        assert r["detected_crc_errors"] + r["detected_framing_errors"] >= r["frames_damaged"]
        assert 0 < r["goodput_words_per_cycle"] <= r["goodput_bound"] * 1.05, r
        assert r["mean_latency_cycles"] > 2 * 6, r
    assert "link:" in captured.err  # progress on stderr, JSON alone on stdout


@pytest.mark.parametrize("argv,needle", [
    (["link", "--credits", "0"], "credits must be positive"),
    (["link", "--credits", "65"], "exceed the smallest receive buffer"),
    (["link", "--latency", "0"], "latency 0 outside"),
    (["link", "--error-rate", "0.7"], "--error-rate must be in"),
    (["link", "--vcs", "3"], "--vcs must be"),
    (["link", "--flits", "0"], "--flits must be positive"),
])
def test_rdu_link_bad_input_is_a_clear_error(argv, needle, capsys):
    assert main(argv) == 2
    assert needle in capsys.readouterr().err
