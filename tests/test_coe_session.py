"""CoE sessions on the RTL: experts switched DDR -> HBM by the copy engine, routed and run on
the tile, every routing and expert output bit-exact; errors before anything reaches the device."""

import numpy as np
import pytest

from hdl.rdu.config import DDR_BASE, rdu_config
from testbench.coe.demo_session import run_session
from testbench.coe.experts import ROUTER_FILE, load_experts, load_router, make_experts
from testbench.coe.machine import CoEMachine
from testbench.coe.plan import LoadProgram, Route, Run, Switch
from testbench.coe.router import Router
from testbench.coe.trace import make_trace
from testbench.runtime.memory_map import OutOfDeviceMemory

CONFIG = rdu_config("coe")
D = F = 8
COUNT = 4


@pytest.fixture(scope="module")
def experts_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("experts")
    make_experts(directory, COUNT, D, F, seed=7)
    return directory


@pytest.mark.parametrize("scheduler", ["fcfs", pytest.param("batch", marks=pytest.mark.regress)])
def test_session_bit_exact_with_switches(experts_dir, scheduler, seed, run_name, waves):
    run = run_session(CONFIG, experts_dir, d=D, f=F, requests=6, trace_seed=seed, zipf=0.5,
                      max_tokens=3, slots=2, scheduler=scheduler, window=3, run_name=run_name,
                      seed=seed, waves=waves)
    assert run.mismatches == [], run.mismatches
    steps = run.plan.steps
    assert sum(isinstance(s, Run) for s in steps) == sum(isinstance(s, Route) for s in steps) == 6
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


def test_ddr_full_is_refused_before_simulation(experts_dir, tmp_path):
    experts = load_experts(experts_dir, D, F)
    router = Router(load_router(experts_dir / ROUTER_FILE, D), experts, lanes=CONFIG.lanes,
                    pmu_depth=CONFIG.pmu_depth)
    trace = make_trace(router.checkpoint, 2, 1)
    many = {f"e{i}": experts[i % COUNT] for i in range(1000)}
    with pytest.raises(OutOfDeviceMemory, match="experts in DDR"):
        CoEMachine(CONFIG, router, many, trace, slots=2)


def test_weight_image_holds_both_weights_at_their_offsets(experts_dir):
    experts = load_experts(experts_dir, D, F)
    router = Router(load_router(experts_dir / ROUTER_FILE, D), experts, lanes=CONFIG.lanes,
                    pmu_depth=CONFIG.pmu_depth)
    trace = make_trace(router.checkpoint, 3, 2)
    machine = CoEMachine(CONFIG, router, {e.name: e for e in experts}, trace, slots=2)
    programs = machine.programs
    assert sorted(programs.image.offsets) == ["w1.B", "w3.B"]
    assert programs.image.nbytes % CONFIG.copy_burst_bytes == 0
    assert machine.ddr_base >= DDR_BASE and machine.ddr_base % CONFIG.copy_burst_bytes == 0
    image = programs.expert_image(experts[1]).view(np.uint32)
    w3_words = image[programs.image.offsets["w3.B"] // 4:]
    # B layout: bf16 weights in bits 16-31, bits 0-15 zero.
    assert np.any(w3_words) and not np.any(w3_words & 0xFFFF)
    assert not np.array_equal(image, programs.expert_image(experts[2]))
