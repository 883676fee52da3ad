"""Sustained bandwidth of each tier (checker clean throughout), as % of its peak.

Sequential reads and writes, random 64-byte reads and a 2:1 read/write mix run
through the AXI port with cocotbext-axi; figures are printed (``-s``) and the
sequential HBM read must reach 85 % of peak.
"""

import pytest

from memory_ctrl.system import tier_configs
from testbench.mem_traffic import TEST_SYSTEM, memory_system_design, run_traffic

SYSTEM = TEST_SYSTEM  # 8 MiB HBM (2 channels), 192 MiB DDR: one build
TIERS = tier_configs(**SYSTEM)
SIZES = {"seq_read": 1 << 20, "seq_write": 1 << 20, "random_read": 64 << 10,
         "mix_2to1": 768 << 10}
FLOORS = {("hbm", "seq_read"): 85.0}


@pytest.mark.parametrize("pattern", list(SIZES))
@pytest.mark.parametrize("tier", ["hbm", "ddr"])
def test_bandwidth(tier, pattern, run_name):
    cfg = TIERS[tier]
    size = SIZES[pattern] // (4 if tier == "ddr" else 1)
    figures = run_traffic(memory_system_design(**SYSTEM), pattern=pattern, size=size,
                          axi=f"s_axi_{tier}", obs=f"{tier}_",
                          peak_bytes_per_cycle=cfg.peak_bytes_per_cycle,
                          capacity=cfg.capacity, beat_bytes=cfg.data_bytes,
                          tck_ns=cfg.dram.tck_ns, run_name=run_name)
    print(tier, figures)
    assert figures["checked_commands"] > 0
    assert figures["percent_of_peak"] >= FLOORS.get((tier, pattern), 1.0), figures
