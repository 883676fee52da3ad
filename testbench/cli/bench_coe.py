"""Benchmark of CoE expert switching: copy-engine time against bytes / DDR bandwidth, and the
switching-time ratio against a host-link baseline.

1. On the ``coe`` RDU, the copy engine moves blocks of several sizes DDR -> HBM in one
   simulation (each block read back and compared); cycles against the ideal
   ``bytes / DDR-tier peak`` (bytes per RDU cycle of the DDR4 tier model).
2. A CoE session (``rdu coe run`` defaults): every Switch step's cycles against the same
   ideal.
3. Baseline: the same switches fed from host memory over a PCIe-like link. The ratio
   of switching times is ``(achieved / peak) x DDR->HBM bandwidth / link bandwidth``:
   the model measures the first factor; the bandwidths are the SN40L paper's (DDR ->
   HBM about 1 TB/s per 8-socket node; host links of 64 and 32 GB/s; the paper
   reports 15x and 31x).
"""

import argparse

import numpy as np

from hdl.rdu.config import rdu_config
from hdl.rdu.memory_tiers import memory_tier_configs
from testbench.runtime.session import Session

from .coe_cmd import RUN_DEFAULTS, simulate_session

__all__ = ["run_bench"]

SIZES = (1024, 4096, 16384)
NODE_DDR_TO_HBM_GBPS = 1000.0
HOST_LINKS_GBPS = (64.0, 32.0)


def _copy_cycles(log) -> list[dict]:
    config = rdu_config("coe")
    burst = config.copy_burst_bytes
    session = Session(config)
    rng = np.random.default_rng(1)
    blocks = []
    for size in SIZES:
        data = rng.integers(0, 1 << 32, size // 4, dtype=np.uint32)
        src = session.write(data, f"ddr block {size}", tier="ddr", align=burst)
        dst = session.allocate(size, f"hbm block {size}", align=burst)
        session.copy(src, dst, size, f"copy{size}")
        session.read(f"back{size}", dst, size // 4)
        blocks.append((size, data))
    log(f"coe: copy engine DDR -> HBM, blocks of {', '.join(map(str, SIZES))} bytes")
    result = session.run(run_name="bench_coe_copies")
    peak = memory_tier_configs(config)["ddr"].peak_bytes_per_cycle
    rows = []
    for size, data in blocks:
        if not np.array_equal(result[f"back{size}"], data):
            raise AssertionError(f"the {size}-byte copy did not arrive intact")
        cycles = int(result[f"copy{size}"][0])
        rows.append({"bytes": size, "cycles": cycles, "ideal_cycles": round(size / peak, 1),
                     "share_of_peak": size / peak / cycles})
    return rows


def run_bench(log):
    copies = _copy_cycles(log)
    log("coe: a CoE session for its switch steps")
    options = argparse.Namespace(**{**RUN_DEFAULTS, "out": RUN_DEFAULTS["out"] / "bench"})
    summary, _, ok = simulate_session(options, log)
    if not ok:
        raise AssertionError("the CoE session's results differ from the golden model")
    peak = memory_tier_configs(rdu_config("coe"))["ddr"].peak_bytes_per_cycle
    switch_bytes = summary["bytes"]["ddr_to_hbm"]
    switch_cycles = summary["cycles"]["switch"]
    session_share = switch_bytes / peak / switch_cycles if switch_cycles else 0.0
    share = copies[-1]["share_of_peak"]
    baseline = {f"{link:g}GB/s": share * NODE_DDR_TO_HBM_GBPS / link for link in HOST_LINKS_GBPS}
    data = {"ddr_peak_bytes_per_cycle": peak, "copies": copies,
            "session": {"switches": summary["switches"], "bytes": switch_bytes,
                        "cycles": switch_cycles, "share_of_peak": session_share},
            "host_link_baseline_ratio": baseline,
            "paper_ratio": {"64GB/s": 15, "32GB/s": 31}}
    lines = [f"coe: copy engine DDR -> HBM (DDR tier peak {peak:.2f} B/cycle)"]
    lines += [f"  {r['bytes']:6d} B: {r['cycles']:5d} cycles, ideal {r['ideal_cycles']:7.1f} "
              f"({r['share_of_peak']:.0%} of peak)" for r in copies]
    lines.append(f"  session: {summary['switches']} switches, {switch_bytes} B in "
                 f"{switch_cycles} cycles ({session_share:.0%} of peak; each switch is one "
                 f"{switch_bytes // max(summary['switches'], 1)}-byte expert)")
    lines.append("  switching time, host link / DDR->HBM at the paper's bandwidths: " + ", ".join(
        f"{name} link {ratio:.1f}x (paper {data['paper_ratio'][name]}x)"
        for name, ratio in baseline.items()))
    return data, "\n".join(lines)
