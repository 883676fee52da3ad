"""The host program's two ends that need no simulator: steps through JSON, and the result's
typed access to what the player recorded."""

import numpy as np
import pytest

from testbench.runtime import host_program as hp

STEPS = [hp.Preload(0x4000_0003, "p0"), hp.Write(0x40, "w0"), hp.Load("i0", "p0"),
         hp.Load("i1"), hp.LoadRefused("bad", "r"),
         hp.Launch("a0", "k0"), hp.Schedule((("i0", "a1"), (None, "a2")), "schedule"),
         hp.Copy(0x100, 0x8000_0000, 256, "c"), hp.PacedWrite(0, "w1", 0.5, "pw"),
         hp.Progress("/tmp/p", "line"), hp.Read("out", 0x40, 4), hp.Counters("n")]


@pytest.mark.parametrize("step", STEPS, ids=lambda step: type(step).__name__)
def test_every_step_survives_json(step):
    assert hp.step_from_json(hp.step_to_json(step)) == step


def test_unknown_steps_and_fields_are_refused():
    with pytest.raises(ValueError, match="unknown host-program step kind 'Jump'"):
        hp.step_from_json({"kind": "Jump"})
    with pytest.raises(ValueError, match=r"Read has no field\(s\) \['bytes'\]"):
        hp.step_from_json({"kind": "Read", "name": "x", "address": 0, "count": 1, "bytes": 4})
    with pytest.raises(TypeError):
        hp.step_to_json(("Write", 0))


def test_result_reads_windows_launches_and_reasons_by_step_name():
    result = hp.HostProgramResult({
        hp.window_key("k0"): np.array([10, 25]), hp.window_key("k1"): np.array([30, 70]),
        hp.cycles_key("k1"): np.array([40, 33]), hp.reason_key("r"): np.frombuffer(
            b"bad magic", np.uint8), "out": np.arange(4, dtype=np.uint32)})
    assert result.window("k1") == (30, 70)
    assert result.cycles("k0") == 15
    assert result.cycles("k0", "k1") == 60
    assert result.launch("k1") == hp.LaunchCycles(host=40, kernel=33)
    assert result.reason("r") == "bad magic"
    assert list(result["out"]) == [0, 1, 2, 3]
    assert set(result) == {"k0_window", "k1_window", "k1_cycles", "r_reason", "out"}
    with pytest.raises(KeyError):
        result.window("k2")


def test_a_host_program_larger_than_an_environment_variable_runs(tmp_path):
    """The steps reach the simulator in a file: a program whose JSON is larger than the
    128 KiB Linux allows one environment variable (a long CoE session) still runs."""
    from hdl.rdu.config import rdu_params
    from testbench.runtime.host_script import HostScript

    config = rdu_params("small")
    script = HostScript(config)
    words = np.arange(16, dtype=np.uint32) * 0x01010101
    address = script.write(words)
    report = tmp_path / "progress.txt"
    line = "x" * 200_000
    script.progress(str(report), line)
    script.read("back", address, words.size)
    result = script.run(run_name="large_host_program")
    np.testing.assert_array_equal(result["back"], words)
    assert report.read_text().startswith(line + " at cycle ")
