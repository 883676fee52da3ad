"""Benchmark of one array of arithmetic units: build cost and simulation speed.

Measured side by side in one run (this machine is shared and noisy, so the
ratios mean more than the absolute numbers): Verilator build time from an
empty cache and from a warm one, simulated cycles per second under cocotb
(Python driving and sampling the streams every cycle) and in Amaranth's
Python simulator on the same design with the same beats.
"""

import tempfile
import time
from pathlib import Path

import numpy as np

from hdl.numerics.catalog import numeric_array

from ..golden.fp_vectors import hard_f32_pairs
from ..sim.build_cache import build_model
from ..sim.packing import beats_to_ints
from ..sim.runner import run_cocotb
from .numerics_ops import lane_array_design, pack_operands

OP, UNIT, LANES = "f32_mul", "fp32_mul", 16
COCOTB_BEATS = 20_000
AMARANTH_CYCLES = 2_000


def _amaranth_cycles_per_second(beats: list[int]) -> float:
    from amaranth.sim import Simulator

    dut = numeric_array(UNIT, LANES)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    elapsed = {}

    async def drive(ctx):
        ctx.set(dut.o.ready, 1)
        ctx.set(dut.i.valid, 1)
        start = time.perf_counter()
        for beat in beats:
            ctx.set(dut.i.payload.as_value(), beat)
            await ctx.tick()
        elapsed["seconds"] = time.perf_counter() - start

    sim.add_testbench(drive)
    sim.run()
    return len(beats) / elapsed["seconds"]


def run_bench(log):
    rng = np.random.default_rng(1)
    a, b = hard_f32_pairs(rng, COCOTB_BEATS * LANES)
    beats = pack_operands(OP, [a, b], LANES)
    design = lane_array_design(UNIT, LANES)
    with tempfile.TemporaryDirectory(prefix="rdu-bench-") as tmp:
        cold = build_model(design, root=Path(tmp), log=log)
        warm = build_model(design, root=Path(tmp), log=log)
        assert cold.rebuilt and not warm.rebuilt
        run = run_cocotb(warm, "testbench.cocotb_tests.stream_player", run_name="bench_fp",
                         seed=1, args={"out_bytes": 4 * LANES}, inputs={"beats": beats})
    cocotb_cycles = int(run.outputs["cycles"])
    cocotb_rate = cocotb_cycles / float(run.outputs["seconds"])
    log(f"Amaranth simulator: {AMARANTH_CYCLES} cycles")
    amaranth_rate = _amaranth_cycles_per_second(beats_to_ints(beats[:AMARANTH_CYCLES]))
    data = {
        "design": design.toplevel, "lanes": LANES,
        "build_cold_s": round(cold.seconds, 2), "build_cached_s": round(warm.seconds, 4),
        "build_cold_over_cached": round(cold.seconds / warm.seconds, 1),
        "cocotb_verilator_cycles": cocotb_cycles,
        "cocotb_verilator_cycles_per_s": round(cocotb_rate),
        "amaranth_sim_cycles": AMARANTH_CYCLES,
        "amaranth_sim_cycles_per_s": round(amaranth_rate),
        "verilator_over_amaranth": round(cocotb_rate / amaranth_rate, 1),
        "flops_per_cycle": LANES,
    }
    text = "\n".join([
        f"fp: {design.toplevel} ({LANES} fp32 multipliers behind one stream)",
        f"  Verilator build, empty cache   {data['build_cold_s']:10.2f} s",
        f"  Verilator build, cached        {data['build_cached_s']:10.4f} s"
        f"   (cold/cached {data['build_cold_over_cached']}x)",
        f"  cocotb + Verilator             {data['cocotb_verilator_cycles_per_s']:10d} cycles/s"
        f"   ({cocotb_cycles} cycles)",
        f"  Amaranth Python simulator      {data['amaranth_sim_cycles_per_s']:10d} cycles/s"
        f"   ({AMARANTH_CYCLES} cycles)",
        f"  Verilator / Amaranth           {data['verilator_over_amaranth']:10.1f} x",
    ])
    return data, text
