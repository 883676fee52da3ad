"""PCU in SIMD mode: random per-stage opcodes, operand selects, counters, tails and
reductions, random data and stalls on every stream, bit-exact against the golden model.

Both parameter sets (4 lanes x 3 stages, 16 lanes x 6 stages) run several random
configurations back to back through the one configuration port. The regress test
sweeps until the functional coverage model is full and writes its report to
sim_build/coverage/.
"""

import cocotb
import numpy as np
import pytest
from pcu_common import (
    PARAM_SETS,
    STALL_PATTERNS,
    coverage_report,
    job_data,
    missing_bins,
    random_config,
    random_jobs,
    run_jobs,
    run_pcu_program,
    systolic_config,
)

SEEDS = [1, 2]
JOBS_PER_RUN = {"4x3": 6, "16x6": 4}


@cocotb.test()
async def pcu_program(dut):
    await run_pcu_program(dut)


@pytest.mark.parametrize("pname,pattern", [
    ("4x3", "light"), ("4x3", "heavy_both"), ("16x6", "heavy_in"), ("16x6", "heavy_out")])
def test_pcu_simd_random(pname, pattern, seed, waves, run_name):
    params = PARAM_SETS[pname]
    rng = np.random.default_rng([seed, len(pname), len(pattern)])
    jobs = random_jobs(rng, params, JOBS_PER_RUN[pname], systolic_share=0.25)
    out = run_jobs(params, jobs, test_module="test_pcu_simd", seed=seed, run_name=run_name,
                   waves=waves, pattern=pattern, stall_rng=rng)
    assert len(out["done"]) == sum(config.passes for config, _, _ in jobs)


def test_pcu_systolic_mode(seed, waves, run_name):
    """Mode SYSTOLIC on the small unit (its 4 x 4 array), switching to SIMD and back."""
    params = PARAM_SETS["4x3"]
    rng = np.random.default_rng([seed, 4242])
    jobs = [job_data(rng, params, systolic_config(rng, params)) for _ in range(2)]
    jobs.insert(1, job_data(rng, params, random_config(rng, params)))
    out = run_jobs(params, jobs, test_module="test_pcu_simd", seed=seed, run_name=run_name,
                   waves=waves, pattern="heavy_both", stall_rng=rng)
    outputs = len(out["vec_out"]) + len(out["scalar_out"])
    assert outputs == sum(c.passes * c.outputs_per_pass for c, _, _ in jobs)
    assert len(out["done"]) == sum(c.passes for c, _, _ in jobs)


@pytest.mark.regress
def test_pcu_simd_coverage_closure(waves, run_name):
    """Random runs over both parameter sets and all stall patterns until every bin is hit."""
    seed = 1000
    for round_index in range(12):
        for pname, params in PARAM_SETS.items():
            for pattern in STALL_PATTERNS:
                seed += 1
                rng = np.random.default_rng(seed)
                jobs = random_jobs(rng, params, JOBS_PER_RUN[pname] + 2, systolic_share=0.25)
                run_jobs(params, jobs, test_module="test_pcu_simd", seed=seed,
                         run_name=f"{run_name}_{pname}_{pattern}_{round_index}", waves=waves,
                         pattern=pattern, stall_rng=rng)
        percent = coverage_report("pcu_simd")
        if all(p == 100.0 for p in percent.values()):
            break
    percent = coverage_report("pcu_simd")
    for key, value in percent.items():
        assert value == 100.0, f"{key} at {value:.1f}%: missing {missing_bins(key)}"
