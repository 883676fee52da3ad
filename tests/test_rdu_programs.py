"""Hand-built programs on the RDU top, end to end through the host port.

Each test writes tensors through the host's AXI4 port, loads program images
through Program Load from device memory, launches kernels through the
AXI4-Lite registers and compares what it reads back, bit for bit, with the
golden model. The meshes' passive credit checker runs in every script (the
script fails if it ever fires).
"""

import numpy as np
import pytest

from hdl.rdu.config import rdu_params
from testbench.bfm.words import assert_words_equal
from testbench.programs.catalog import KERNELS, prepare, vector_add
from testbench.runtime.host_program import Schedule
from testbench.runtime.host_script import HostScript

SEEDS = [1]


@pytest.mark.parametrize("host_stall", [0.0, 0.3])
@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_kernel_end_to_end(kernel, host_stall, seed, run_name, waves):
    script = HostScript(rdu_params("small"))
    prepared = prepare(kernel, script, np.random.default_rng(seed))
    script.load(prepared.image)
    script.launch(prepared.arguments, "kernel")
    script.read("out", prepared.out, prepared.expected.size)
    result = script.run(run_name=run_name, seed=seed, waves=waves, host_stall=host_stall)
    assert_words_equal(result["out"], prepared.expected, kernel)


def test_vector_add_across_two_pcus(seed, run_name, waves):
    script = HostScript(rdu_params("tile2x2"))
    prepared = vector_add(script, np.random.default_rng(seed), units=2)
    script.load(prepared.image)
    script.launch(prepared.arguments, "add")
    script.counters("counters")
    script.read("out", prepared.out, prepared.expected.size)
    result = script.run(run_name=run_name, seed=seed, waves=waves)
    assert_words_equal(result["out"], prepared.expected, "vector add on two PCUs")
    busy = result["counters"][:, 0]
    pcu_units = [0, 3]
    assert (busy[pcu_units] > 0).all(), f"both PCUs worked: busy cycles {busy.tolist()}"


def test_schedule_hardware_orchestrated_matches_software(seed, run_name, waves):
    """The same three kernels, issued one by one by the host and as one AGCU schedule."""
    script = HostScript(rdu_params("small"))
    order = ["vector_add", "reduce_sum", "gemm"]
    rng = np.random.default_rng(seed)
    software = [prepare(name, script, rng) for name in order]
    for i, kernel in enumerate(software):
        script.load(kernel.image)
        script.launch(kernel.arguments, f"sw{i}")
    # The same inputs again at new addresses, for the hardware-orchestrated run.
    rng = np.random.default_rng(seed)
    hardware = [prepare(name, script, rng) for name in order]
    script.schedule([(kernel.image, kernel.arguments) for kernel in hardware], "hw")
    for i, (sw, hw) in enumerate(zip(software, hardware, strict=True)):
        script.read(f"sw_out{i}", sw.out, sw.expected.size)
        script.read(f"hw_out{i}", hw.out, hw.expected.size)
    result = script.run(run_name=run_name, seed=seed, waves=waves)
    for i, name in enumerate(order):
        assert_words_equal(result[f"sw_out{i}"], software[i].expected,
                           f"{name} (software-orchestrated)")
        assert_words_equal(result[f"hw_out{i}"], hardware[i].expected,
                           f"{name} (hardware-orchestrated)")
        assert np.array_equal(result[f"sw_out{i}"], result[f"hw_out{i}"])
    sw_cycles = int(result["sw2_window"][1] - result["sw0_window"][0])
    hw_cycles = int(result["hw_window"][1] - result["hw_window"][0])
    print(f"three kernels: software-orchestrated {sw_cycles} cycles, "
          f"hardware-orchestrated {hw_cycles} cycles ({sw_cycles / hw_cycles:.2f}x)")
    assert hw_cycles < sw_cycles, "the AGCU's schedule needs no host round trips per kernel"


def test_performance_counters_agree_with_observed_cycles(seed, run_name, waves):
    script = HostScript(rdu_params("small"))
    prepared = prepare("gemm", script, np.random.default_rng(seed))
    script.counters("before")
    script.load(prepared.image)
    script.launch(prepared.arguments, "gemm")
    script.counters("after")
    script.read("out", prepared.out, prepared.expected.size)
    result = script.run(run_name=run_name, seed=seed, waves=waves, observe_counters=True)
    assert_words_equal(result["out"], prepared.expected, "gemm")
    for name in ("before", "after"):
        assert np.array_equal(result[name], result[f"{name}_observed"]), (
            f"counters read through the host port {result[name].tolist()} differ from the "
            f"cycles the testbench counted {result[f'{name}_observed'].tolist()}")
    busy = result["after"][:, 0] - result["before"][:, 0]
    assert (busy > 0).all(), f"both units were busy during the kernel: {busy.tolist()}"


def test_runtime_refuses_bad_images_before_the_hardware(seed, run_name, waves):
    config = rdu_params("small")
    script = HostScript(config)
    good = prepare("reduce_sum", script, np.random.default_rng(seed))
    blob = good.image.to_bytes()
    corrupted = blob[:-1] + bytes([blob[-1] ^ 1])
    foreign = prepare("reduce_sum", HostScript(rdu_params("small", flows=32)),
                      np.random.default_rng(seed)).image.to_bytes()
    script.load_refused(corrupted, "corrupted")
    script.load_refused(foreign, "foreign")
    script.load(good.image)  # the RDU still works afterwards
    script.launch(good.arguments, "kernel")
    script.read("out", good.out, good.expected.size)
    result = script.run(run_name=run_name, seed=seed, waves=waves)
    for name, needle in (("corrupted", "checksum mismatch"), ("foreign", "another RDU")):
        assert needle in result.reason(name)
        before, after = result[name]
        assert before == after, f"the {name} image reached the AGCU"
    assert_words_equal(result["out"], good.expected, "reduce_sum after refused images")


def test_rdu_run_command_reports_and_rejects(capsys):
    import json

    from testbench.cli.main import main

    assert main(["run", "reduce_sum", "gemm", "--orchestration", "hardware", "--json",
                 "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] and [k["mismatches"] for k in report["kernels"]] == [0, 0]
    assert report["cycles"] > 0
    assert main(["run", "nope"]) == 2
    assert "unknown kernel 'nope'" in capsys.readouterr().err
    assert main(["run", "gemm", "--preset", "huge"]) == 2
    assert "unknown RDU preset 'huge'" in capsys.readouterr().err


def test_schedule_larger_than_the_command_region_runs_in_parts(seed, run_name, waves):
    """Every hand-built kernel, twice, as one hardware-orchestrated schedule on an RDU whose
    command region (the top quarter of 4 KiB) holds far less than the whole schedule: the
    runtime runs it as several SCHEDULE commands, evicting resident programs between them."""
    from testbench.runtime.memory_map import command_region, schedule_entry_bytes

    config = rdu_params("small", memory_bytes=4096)
    script = HostScript(config)
    rng = np.random.default_rng(seed)
    kernels = [prepare(name, script, rng) for name in sorted(KERNELS) * 2]
    entries = [(kernel.image, kernel.arguments) for kernel in kernels]
    beat = config.vector_bits // 8
    needed = sum(schedule_entry_bytes(beat, len(image.words), len(arguments))
                 for image, arguments in entries)
    _, region = command_region(config.memory_bytes)
    assert needed > 2 * region, f"the schedule ({needed} B) must overflow the region ({region} B)"
    script.schedule(entries, "hw")
    for i, kernel in enumerate(kernels):
        script.read(f"out{i}", kernel.out, kernel.expected.size)
    result = script.run(run_name=run_name, seed=seed, waves=waves)
    for i, kernel in enumerate(kernels):
        assert_words_equal(result[f"out{i}"], kernel.expected, f"{kernel.name} (entry {i})")


def test_schedule_entry_larger_than_the_command_region_is_refused_before_simulation():
    from testbench.runtime.memory_map import OutOfDeviceMemory

    config = rdu_params("small", memory_bytes=4096)
    script = HostScript(config)
    kernel = prepare("vector_add", script, np.random.default_rng(1))
    with pytest.raises(OutOfDeviceMemory, match=r"schedule entry 1 needs \d+ bytes of the "
                       r"command region .* holds 1024 bytes"):
        script.schedule([(kernel.image, kernel.arguments), (None, [0] * 300)], "hw")
    assert not any(isinstance(step, Schedule) for step in script.steps), \
        "a refused schedule left no step behind"
