"""Benchmark of the memory tiers: bandwidth per pattern and tier, and the 8 MiB copy."""

from ..mem_traffic import bench_memory


def run_bench(log):
    log("mem: 4 patterns x 2 tiers, then an 8 MiB DDR -> HBM copy")
    results = bench_memory()
    lines = ["mem: share of peak bandwidth (timing checker clean on every run)"]
    for name, r in results.items():
        if name.startswith("copy") or name == "hbm_to_ddr":
            continue
        hits = r.get("row_hit_rate")
        hits = "n/a" if hits is None else f"{max(hits, 0.0):.2f}"
        lines.append(f"  {name:22} {r['percent_of_peak']:6.1f}% of peak, row hits {hits}")
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
    return results, "\n".join(lines)
