"""The memory system at its factory defaults: the 4-channel HBM tier and the 9x ratio.

``make_memory_system()`` with no overrides: HBM2 x 4 channels (512 KiB, 128 B per
cycle) and DDR4-3200 x 1 channel clocked on 8 of 9 cycles (12 MiB). Random traffic
with AXI stalls on the HBM tier is checked bit-exactly with zero timing violations;
a DDR -> HBM copy that spans all four HBM channels (and back) is checked through the
backdoor dump.

The simulations are ``regress``: this design's build (2.4 MB of Verilog) took 307 s and
581 s on the shared 2-core machine (load average 4 to 6), the 2-channel test system's
(1.6 MB) 110 s: above the fast tier's ~3 min budget. The 2-channel versions
(``test_dram_tier``, ``test_dram_copy``) stay in the fast tier.
"""

import numpy as np
import pytest

from memory_ctrl.tier_params import bandwidth_ratio, capacity_ratio, tier_configs
from testbench.cli.mem_traffic import FULL_SYSTEM, memory_system_design, run_copy, run_traffic
from testbench.sim.runner import simulate

SEEDS = [1]
TIERS = tier_configs(**FULL_SYSTEM)
DESIGN = memory_system_design(**FULL_SYSTEM)
COPY_BYTES = 128 << 10


def test_default_ratios():
    assert TIERS["hbm"].channels == 4
    assert bandwidth_ratio(TIERS) == pytest.approx(9.0)
    assert capacity_ratio(TIERS) == pytest.approx(24.0)


@pytest.mark.regress
@pytest.mark.parametrize("stall", [0.0, 0.4])
def test_random_traffic_hbm4(stall, seed, waves, run_name):
    cfg = TIERS["hbm"]
    simulate(DESIGN, "test_dram_tier", testcase="random_traffic", run_name=run_name,
             seed=seed, waves=waves,
             args={"tier": "hbm", "capacity": cfg.capacity, "beat": cfg.data_bytes,
                   "stall": stall, "batches": 12, "per_batch": 8, "max_beats": 24})


@pytest.mark.regress
@pytest.mark.parametrize("tier", list(TIERS))
def test_dram_clock_rate_defaults(tier, waves, run_name):
    cfg = TIERS[tier]
    simulate(DESIGN, "test_dram_tier", testcase="dram_clock_rate", run_name=run_name, seed=1,
             waves=waves, args={"tier": tier, "capacity": cfg.capacity, "beat": cfg.data_bytes,
                                "clock_enable": list(cfg.clock_enable)})


@pytest.mark.regress
@pytest.mark.parametrize("tier", list(TIERS))
def test_idle_latency_defaults(tier, waves, run_name):
    """Read latencies follow the DRAM formulas in DRAM cycles (DDR: 8 of 9 cycles)."""
    from memory_ctrl.tier import Tier

    cfg = TIERS[tier]
    p = cfg.dram
    k, n = cfg.clock_enable
    simulate(DESIGN, "test_dram_tier", testcase="idle_latency", run_name=run_name, seed=1,
             waves=waves,
             args={"tier": tier, "capacity": cfg.capacity, "beat": cfg.data_bytes,
                   "timing": {"tRCD": p.tRCD, "CL": p.CL, "tBL": p.burst_cycles, "tRP": p.tRP},
                   "row_stride": 1 << cfg.address_map.offset("row"),
                   "pipeline": Tier.PIPELINE_CYCLES, "closed_page": cfg.closed_page,
                   "always_enabled": k == n})


@pytest.mark.regress
def test_copy_ddr_to_hbm4(seed, run_name):
    channels = TIERS["hbm"].address_map.decode(np.arange(0, COPY_BYTES, 64, dtype=np.uint64))
    assert set(channels["channel"].tolist()) == {0, 1, 2, 3}, "the copy must span 4 channels"
    figures = run_copy(size=COPY_BYTES, back=True, seed=seed, run_name=run_name, **FULL_SYSTEM)
    print(figures)
    assert figures["cycles"] > figures["ideal_cycles"]
    assert figures["percent_of_ddr_peak"] > 70.0, figures


@pytest.mark.regress
def test_seq_read_ratio_defaults(run_name):
    rates = {}
    for tier, size in (("hbm", 1 << 20), ("ddr", 256 << 10)):
        cfg = TIERS[tier]
        figures = run_traffic(DESIGN, pattern="seq_read", size=size, axi=f"s_axi_{tier}",
                              obs=f"{tier}_", peak_bytes_per_cycle=cfg.peak_bytes_per_cycle,
                              capacity=cfg.capacity, beat_bytes=cfg.data_bytes,
                              tck_ns=cfg.cycle_ns, run_name=f"{run_name}_{tier}")
        print(tier, figures)
        rates[tier] = figures["bytes_per_cycle"]
    ratio = rates["hbm"] / rates["ddr"]
    print(f"HBM:DDR sequential read {ratio:.2f}x (peaks {bandwidth_ratio(TIERS):.2f}x)")
    assert 8.0 <= ratio <= 10.0, rates
