"""Sustained bandwidth of each tier (checker clean throughout), as % of its peak.

Sequential reads and writes, random 64-byte reads and a 2:1 read/write mix run
through the AXI port with cocotbext-axi; figures are printed (``-s``) and the
sequential HBM read must reach 85 % of peak. Per fabric cycle the HBM tier's peak is
9x the DDR tier's (docs/architecture.md section 3); the measured sequential-read ratio
must be within 8x..10x.
"""

import pytest

from memory_ctrl.tier_params import bandwidth_ratio, tier_configs
from testbench.cli.mem_traffic import TEST_SYSTEM, memory_system_design, run_traffic

SYSTEM = TEST_SYSTEM  # 8 MiB HBM (2 channels), 192 MiB DDR: one build
TIERS = tier_configs(**SYSTEM)
SIZES = {"seq_read": 1 << 20, "seq_write": 1 << 20, "random_read": 64 << 10,
         "mix_2to1": 768 << 10}
FLOORS = {("hbm", "seq_read"): 85.0}


@pytest.mark.parametrize("pattern", list(SIZES))
@pytest.mark.parametrize("tier", ["hbm", "ddr"])
def test_bandwidth(tier, pattern, run_name):
    size = SIZES[pattern] // (4 if tier == "ddr" else 1)
    figures = _figures(tier, pattern, size, run_name)
    print(tier, figures)
    assert figures["checked_commands"] > 0
    assert figures["percent_of_peak"] >= FLOORS.get((tier, pattern), 1.0), figures


def _figures(tier, pattern, size, run_name):
    cfg = TIERS[tier]
    return run_traffic(memory_system_design(**SYSTEM), pattern=pattern, size=size,
                       axi=f"s_axi_{tier}", obs=f"{tier}_",
                       peak_bytes_per_cycle=cfg.peak_bytes_per_cycle, capacity=cfg.capacity,
                       beat_bytes=cfg.data_bytes, tck_ns=cfg.cycle_ns, run_name=run_name)


def test_seq_read_ratio(run_name):
    assert bandwidth_ratio(TIERS) == pytest.approx(9.0)
    hbm = _figures("hbm", "seq_read", SIZES["seq_read"], run_name + "_hbm")
    ddr = _figures("ddr", "seq_read", SIZES["seq_read"] // 4, run_name + "_ddr")
    ratio = hbm["bytes_per_cycle"] / ddr["bytes_per_cycle"]
    print(f"HBM:DDR sequential read {ratio:.2f}x (peaks {bandwidth_ratio(TIERS):.2f}x)")
    assert 8.0 <= ratio <= 10.0, (ratio, hbm, ddr)
