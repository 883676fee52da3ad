"""DRAM tier traffic from the host: what ``rdu mem`` / ``rdu bench mem`` and the DRAM tests call.

* :func:`run_traffic` runs one pattern ("seq_read", "seq_write", "random_read",
  "mix_2to1") of ``size`` bytes on a tier of a design and returns a dict with
  bandwidth (bytes/cycle, % of peak, GB/s at the preset's clock), latency
  distribution, row-hit rate (1 - ACT / column commands) and checker results.
* :func:`run_copy` runs a DDR -> HBM (or back) copy on the memory system design.
* :func:`bench_memory` is everything ``rdu bench mem`` reports.

Both run the cocotb tests of :mod:`testbench.cocotb_tests.tier_traffic` in the
simulator; the cocotb side of a tier's port is :mod:`testbench.bfm.dram_tier`.
"""

import time

import numpy as np

__all__ = ["run_traffic", "run_copy", "memory_system_design", "PATTERNS", "percentiles",
           "TEST_SYSTEM", "FULL_SYSTEM", "bench_memory"]

COCOTB_MODULE = "testbench.cocotb_tests.tier_traffic"

PATTERNS = ("seq_read", "seq_write", "random_read", "mix_2to1")


def percentiles(values) -> dict:
    if len(values) == 0:
        return {}
    array = np.asarray(values, dtype=np.float64)
    return {"min": float(array.min()), "p50": float(np.percentile(array, 50)),
            "p90": float(np.percentile(array, 90)), "p99": float(np.percentile(array, 99)),
            "max": float(array.max()), "mean": float(array.mean()), "count": int(array.size)}


def run_traffic(design, *, pattern: str, size: int, seed: int = 1, axi: str = "s_axi",
                obs: str = "", peak_bytes_per_cycle: float, capacity: int, beat_bytes: int,
                tck_ns: float = 1.0, stall: float = 0.0, access: int = 64,
                run_name: str | None = None, waves: bool = False) -> dict:
    """Run one pattern on one tier of ``design``; return figures as a dict.

    ``peak_bytes_per_cycle`` and ``tck_ns`` are per fabric cycle (``TierParams.
    peak_bytes_per_cycle`` and ``TierParams.cycle_ns``), so GB/s is at the DRAM's clock.
    """
    from testbench.sim.runner import simulate

    if pattern not in PATTERNS:
        raise ValueError(f"unknown traffic pattern {pattern!r}; known: {PATTERNS}")
    wall = time.monotonic()
    result = simulate(design, COCOTB_MODULE, testcase="traffic",
                      run_name=run_name or f"mem_{axi}_{pattern}_{size}", seed=seed, waves=waves,
                      args={"pattern": pattern, "size": size, "axi": axi, "obs": obs,
                            "beat_bytes": beat_bytes, "capacity": capacity, "stall": stall,
                            "access": access})
    out = result.outputs
    cycles = int(out["cycles"])
    moved = size if pattern != "random_read" else (size // access) * access
    rate = moved / cycles
    col = int(out["col_cmds"])
    return {
        "pattern": pattern, "bytes": moved, "cycles": cycles,
        "bytes_per_cycle": rate, "percent_of_peak": 100.0 * rate / peak_bytes_per_cycle,
        "gbytes_per_s": rate / tck_ns,
        "latency_cycles": percentiles(out["latencies"]),
        "row_hit_rate": (1.0 - int(out["acts"]) / col) if col else None,
        "column_commands": col, "activates": int(out["acts"]),
        "refreshes": int(out["refreshes"]), "timing_violations": 0,
        "checked_commands": int(out["chk_commands"]), "wall_seconds": time.monotonic() - wall,
    }


def memory_system_design(**params):
    """The memory-system ``Design`` (both tiers and the copy engines)."""
    from testbench.sim.build_cache import Design

    # -O0: at -O2 its C++ took 185 s to compile; the traffic tests simulate for less.
    return Design("memory_system", "memory_ctrl.memory_system:make_memory_system", params,
                  profile="quick")


def run_copy(*, size: int = 8 << 20, hbm: dict | None = None, ddr: dict | None = None,
             back: bool = False, verify: bool = True, seed: int = 1,
             run_name: str | None = None, waves: bool = False) -> dict:
    """DDR -> HBM copy of ``size`` bytes on a memory system sized to hold it.

    Returns cycles, bytes/cycle, % of the DDR tier's peak (per fabric cycle), the
    implied model-switch time at the DDR preset's clock, and preload / copy wall times.
    """
    from memory_ctrl.tier_params import tier_configs
    from testbench.sim.runner import simulate

    configs = tier_configs(hbm, ddr)
    for name, cfg in configs.items():
        if cfg.capacity < size * (2 if back and name == "ddr" else 1):
            raise ValueError(f"{name} tier ({cfg.capacity} B) cannot hold a {size} B copy")
    design = memory_system_design(**{k: v for k, v in (("hbm", hbm), ("ddr", ddr)) if v})
    wall = time.monotonic()
    result = simulate(design, COCOTB_MODULE, testcase="copy",
                      run_name=run_name or f"mem_copy_{size}", seed=seed, waves=waves,
                      args={"size": size, "src": 0, "dst": 0, "hbm": hbm, "ddr": ddr,
                            "back": size if back else 0, "verify": verify})
    out = {k: v.item() for k, v in result.outputs.items()}
    ddr_cfg = configs["ddr"]
    peak = ddr_cfg.peak_bytes_per_cycle
    cycles = out["to_hbm_cycles"]
    figures = {
        "bytes": size, "cycles": cycles, "bytes_per_cycle": size / cycles,
        "ddr_peak_bytes_per_cycle": peak,
        "percent_of_ddr_peak": 100.0 * size / cycles / peak,
        "ideal_cycles": size / peak,
        "switch_time_us_at_ddr_clock": cycles * ddr_cfg.cycle_ns / 1000.0,
        "ideal_switch_time_us": size / peak * ddr_cfg.cycle_ns / 1000.0,
        "preload_cycles": out["preload_cycles"], "preload_seconds": out["preload_seconds"],
        "preload_mbytes_per_s": size / 1e6 / max(out["preload_seconds"], 1e-9),
        "copy_seconds": out["copy_seconds"], "wall_seconds": time.monotonic() - wall,
    }
    if "to_ddr_cycles" in out:
        figures["back_cycles"] = out["to_ddr_cycles"]
    return figures


#: The memory system the tests and the bench use (one Verilator build): 2 HBM2 channels
#: (8 MiB, 64 B per cycle) and 1 DDR4-3200 channel (192 MiB = 24 x HBM) whose clock ticks
#: on 4 of 9 fabric cycles (16 x 4/9 = 7.1 B per cycle: HBM has 9x the peak bandwidth).
#: The factory defaults (:data:`FULL_SYSTEM`) have 4 HBM channels and the DDR at 8/9.
TEST_SYSTEM = {"hbm": {"channels": 2, "rows": 256}, "ddr": {"rows": 1536, "clock_enable": [4, 9]}}

#: The factory defaults of ``make_memory_system``: 4 HBM2 channels (512 KiB), DDR 12 MiB.
FULL_SYSTEM: dict = {}


def bench_memory(*, patterns=PATTERNS, tiers=("hbm", "ddr"), size: int = 1 << 20,
                 copy_size: int = 8 << 20, seed: int = 1, system: dict | None = None) -> dict:
    """Everything ``rdu bench mem`` reports: each pattern on each tier, then the big copy."""
    from memory_ctrl.tier_params import bandwidth_ratio, capacity_ratio, tier_configs

    system = TEST_SYSTEM if system is None else system
    configs = tier_configs(**system)
    results = {}
    for tier in tiers:
        cfg = configs[tier]
        for pattern in patterns:
            amount = size // 16 if pattern == "random_read" else size
            results[f"{tier}/{pattern}"] = run_traffic(
                memory_system_design(**system), pattern=pattern, size=amount, seed=seed,
                axi=f"s_axi_{tier}", obs=f"{tier}_", peak_bytes_per_cycle=cfg.peak_bytes_per_cycle,
                capacity=cfg.capacity, beat_bytes=cfg.data_bytes, tck_ns=cfg.cycle_ns,
                run_name=f"bench_mem_{tier}_{pattern}")
    if "seq_read" in patterns and set(tiers) >= {"hbm", "ddr"}:
        hbm, ddr = results["hbm/seq_read"], results["ddr/seq_read"]
        results["hbm_to_ddr"] = {
            "peak_bandwidth_ratio": bandwidth_ratio(configs),
            "seq_read_bandwidth_ratio": hbm["bytes_per_cycle"] / ddr["bytes_per_cycle"],
            "hbm_seq_read_percent_of_peak": hbm["percent_of_peak"],
            "ddr_seq_read_percent_of_peak": ddr["percent_of_peak"],
            "ddr_clock_enable": list(configs["ddr"].clock_enable),
            "capacity_ratio_ddr_to_hbm": capacity_ratio(configs)}
    if copy_size:
        results["copy_ddr_to_hbm"] = run_copy(size=copy_size, seed=seed,
                                              run_name=f"bench_mem_copy_{copy_size}", **system)
    return results
