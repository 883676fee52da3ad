"""Benchmark of the memory tiers: bandwidth per pattern and tier, and the 8 MiB copy.

Floors (:mod:`.bench_floors`): HBM sequential read ``hbm_seq_read`` and the
DDR -> HBM copy ``ddr_to_hbm_copy``, both in % of the tier's peak.
"""

from .bench_floors import check
from .mem_traffic import bench_memory

FLOOR_OF = {"hbm/seq_read": "hbm_seq_read"}


def run_bench(log):
    log("mem: 4 patterns x 2 tiers, then an 8 MiB DDR -> HBM copy")
    results = bench_memory()
    floors = []
    lines = ["mem: share of peak bandwidth (timing checker clean on every run)"]
    for name, r in results.items():
        if name.startswith("copy") or name == "hbm_to_ddr":
            continue
        hits = r.get("row_hit_rate")
        hits = "n/a" if hits is None else f"{max(hits, 0.0):.2f}"
        line = f"  {name:22} {r['percent_of_peak']:6.1f}% of peak, row hits {hits}"
        if name in FLOOR_OF:
            result = check(FLOOR_OF[name], r["percent_of_peak"])
            r.update(result.fields())
            floors.append(result)
            line += f", {result.verdict()}"
        lines.append(line)
    ratio = results.get("hbm_to_ddr")
    if ratio:
        k, n = ratio["ddr_clock_enable"]
        lines.append(f"  HBM:DDR sequential read bandwidth {ratio['seq_read_bandwidth_ratio']:.2f}x"
                     f" (peaks {ratio['peak_bandwidth_ratio']:.2f}x, DDR clock on {k}/{n} "
                     f"cycles); capacity DDR:HBM {ratio['capacity_ratio_ddr_to_hbm']:.0f}x")
    copy = results.get("copy_ddr_to_hbm", {})
    if copy:
        lines.append("  copy DDR -> HBM: " + ", ".join(
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
            for k, v in sorted(copy.items()) if not isinstance(v, dict | list)))
        result = check("ddr_to_hbm_copy", copy["percent_of_ddr_peak"],
                       label=f"{copy['bytes'] >> 20} MiB on the memory system")
        copy.update(result.fields())
        floors.append(result)
        lines.append(f"  copy DDR -> HBM {copy['percent_of_ddr_peak']:.1f}% of DDR peak, "
                     f"{result.verdict()}")
    results["floors"] = [r.to_json() for r in floors]
    return results, "\n".join(lines)
