"""CoE sessions on the RTL: decoder-layer experts switched DDR -> HBM by the copy engine,
routed and run on the tile (one decode step per request, its K/V cache in HBM), every
routing and every decoder output (out, new K/V) bit-exact; errors before anything reaches
the device."""

import numpy as np
import pytest
from coe_common import expert_directory

from hdl.rdu.config import DDR_BASE, rdu_params
from testbench.coe.decode_step import request_inputs
from testbench.coe.demo_session import run_session
from testbench.coe.experts import make_experts
from testbench.coe.machine import CoEMachine
from testbench.coe.plan import LoadProgram, Route, Run, Switch
from testbench.coe.router import load_experts_and_router
from testbench.coe.trace import make_trace
from testbench.compiler.transformer import DecoderShape
from testbench.runtime.memory_map import OutOfDeviceMemory

CONFIG = rdu_params("coe")
SHAPE = DecoderShape(d_model=8, heads=1, head_dim=4, d_ff=8, tokens=4)
COUNT = 4


@pytest.fixture(scope="module")
def experts_dir(tmp_path_factory):
    return expert_directory(tmp_path_factory, COUNT, SHAPE, seed=7)


@pytest.mark.parametrize("scheduler,requests", [
    ("fcfs", 3), pytest.param("batch", 6, marks=pytest.mark.regress)])
def test_session_bit_exact_with_switches(experts_dir, scheduler, requests, seed, run_name,
                                         waves):
    run = run_session(CONFIG, experts_dir, shape=SHAPE, requests=requests, trace_seed=seed,
                      zipf=0.5, max_tokens=3, slots=1, scheduler=scheduler, window=3,
                      run_name=run_name, seed=seed, waves=waves)
    assert run.mismatches == [], run.mismatches
    steps = run.plan.steps
    assert (sum(isinstance(s, Run) for s in steps) == sum(isinstance(s, Route) for s in steps)
            == requests)
    switches = [i for i, s in enumerate(steps) if isinstance(s, Switch)]
    assert switches, "the trace must make the session switch experts"
    beat_bytes = CONFIG.vector_bits // 8
    for index, step in enumerate(steps):
        cycles = run.cycles[index]
        if isinstance(step, Switch):
            # A DDR4 channel moves at most one 8-byte atom... per cycle of its own clock:
            # a copy can never be faster than one beat per cycle.
            assert cycles >= step.nbytes // beat_bytes, (index, step, cycles)
        elif isinstance(step, (LoadProgram, Route, Run)):
            assert cycles > 0, (index, step)
    summary = run.summary
    assert summary["switches"] == len(switches)
    assert summary["cycles"]["switch"] == sum(run.cycles[i] for i in switches)
    print(f"{scheduler}: {summary['requests']} requests, {summary['switches']} switches, "
          f"cycles {summary['cycles']}")


def test_software_and_hardware_orchestration_agree(experts_dir, run_name):
    """The same plan with every Program Load and launch from the host, and with a Route or
    a Run as one AGCU schedule: the same results (bit-exact both), the AGCU's program-load
    cycles in the schedule's place of the host's Program Loads, fewer cycles in all."""
    runs = {mode: run_session(CONFIG, experts_dir, shape=SHAPE, requests=2, trace_seed=3,
                              zipf=0.5, max_tokens=2, slots=1, orchestration=mode,
                              run_name=f"{run_name}_{mode}")
            for mode in ("software", "hardware")}
    software, hardware = runs["software"], runs["hardware"]
    assert software.mismatches == hardware.mismatches == []
    assert software.plan.steps == hardware.plan.steps
    for run in runs.values():
        phases = run.summary["cycles"]
        assert phases["program_load"] > 0 and phases["compute"] > 0
        assert sum(phases.values()) == run.summary["total_cycles"]
    assert hardware.summary["orchestration"] == "hardware"
    # the AGCU loads a program from device memory word by word: never fewer cycles than
    # the programs have words
    words = sum(len(kernel.image.words) for kernel in
                CoEMachine(CONFIG, *_router_and_experts(experts_dir), slots=1,
                           shape=SHAPE).programs.expert.kernels)
    runs_count = sum(isinstance(s, Run) for s in hardware.plan.steps)
    assert hardware.summary["cycles"]["program_load"] >= runs_count * words
    assert hardware.summary["total_cycles"] < software.summary["total_cycles"]


def _router_and_experts(experts_dir):
    experts, router = load_experts_and_router(experts_dir, SHAPE, lanes=CONFIG.lanes,
                                              pmu_depth=CONFIG.pmu_depth)
    return router, {e.name: e for e in experts}, make_trace(router.checkpoint, 1, 1)


def test_ddr_full_is_refused_before_simulation(experts_dir, tmp_path):
    experts, router = load_experts_and_router(experts_dir, SHAPE, lanes=CONFIG.lanes,
                                              pmu_depth=CONFIG.pmu_depth)
    trace = make_trace(router.checkpoint, 2, 1)
    many = {f"e{i}": experts[i % COUNT] for i in range(1000)}
    with pytest.raises(OutOfDeviceMemory, match="experts in DDR"):
        CoEMachine(CONFIG, router, many, trace, slots=2, shape=SHAPE)


def test_weight_image_holds_every_decoder_weight_at_its_offset(experts_dir):
    experts, router = load_experts_and_router(experts_dir, SHAPE, lanes=CONFIG.lanes,
                                              pmu_depth=CONFIG.pmu_depth)
    trace = make_trace(router.checkpoint, 3, 2)
    machine = CoEMachine(CONFIG, router, {e.name: e for e in experts}, trace, slots=2,
                         shape=SHAPE)
    programs = machine.programs
    assert sorted(programs.image.offsets) == [
        "attn_norm", "ffn_norm", "w1.B", "w2.B", "w3.B", "wk0.B", "wk0_rot.B", "wo0.B",
        "wq0.B", "wq0_rot.B", "wv0.B"]
    assert programs.image.nbytes % CONFIG.copy_burst_bytes == 0
    assert machine.ddr_base >= DDR_BASE and machine.ddr_base % CONFIG.copy_burst_bytes == 0
    image = programs.expert_image(experts[1]).view(np.uint32)
    w3_words = image[programs.image.offsets["w3.B"] // 4:programs.image.offsets["wk0.B"] // 4]
    # B layout: bf16 weights in bits 16-31, bits 0-15 zero.
    assert np.any(w3_words) and not np.any(w3_words & 0xFFFF)
    gains = image[programs.image.offsets["attn_norm"] // 4:][:SHAPE.d_model]
    assert np.array_equal(gains, experts[1].weights["attn_norm"][0])  # fp32 as stored
    assert not np.array_equal(image, programs.expert_image(experts[2]))
    # A checkpoint of another architecture is refused before anything is staged.
    with pytest.raises(ValueError, match="not the session's"):
        CoEMachine(CONFIG, router, {e.name: e for e in experts}, trace, slots=2,
                   shape=DecoderShape(d_model=8, heads=1, head_dim=4, d_ff=16, tokens=4))


def test_request_caches_are_deterministic_and_per_request(experts_dir):
    experts, router = load_experts_and_router(experts_dir, SHAPE)
    trace = make_trace(router.checkpoint, 2, 5, tokens=(3, 3))
    first, second = (request_inputs(r, SHAPE, trace.seed) for r in trace)
    again = request_inputs(trace.requests[0], SHAPE, trace.seed)
    assert all(np.array_equal(first[k], again[k]) for k in first)
    assert not np.array_equal(first["k_cache0"], second["k_cache0"])
    assert first["k_cache0"].shape == (4, 4) and first["v_cache0"].dtype == np.uint16
    # The new token is the request's last row, widened to fp32 exactly.
    assert np.array_equal(first["x"], trace.requests[0].x[-1:].astype(np.uint32) << 16)


@pytest.mark.regress
def test_two_head_experts_bit_exact(tmp_path, seed, run_name, waves):
    """Experts of two heads of 6 on 7 model columns (neither a multiple of the lanes): every
    head's new K/V entries and the output bit-exact."""
    shape = DecoderShape(d_model=7, heads=2, head_dim=6, d_ff=10, tokens=3)
    make_experts(tmp_path, 3, shape, seed=seed)
    run = run_session(CONFIG, tmp_path, shape=shape, requests=2, trace_seed=seed, zipf=0.5,
                      max_tokens=2, slots=1, run_name=run_name, seed=seed, waves=waves)
    assert run.mismatches == [], run.mismatches
    assert run.summary["requests"] == 2
    assert sum(isinstance(s, Run) for s in run.plan.steps) == 2
