"""Copy engine: DDR -> HBM -> DDR round trip through the backdoor-preloaded DDR tier.

The data is checked bit-exactly in both tiers through the backdoor dump; the
timing checkers of both tiers must stay clean; a misaligned descriptor is refused
and counted. The large (>= 8 MiB) copy with its bandwidth figure is
``testbench.cli.mem_traffic.run_copy`` (``rdu bench mem``) and the regress test below.
"""

import pytest

from testbench.cli.mem_traffic import TEST_SYSTEM, run_copy

SEEDS = [1]
SYSTEM = TEST_SYSTEM  # the design of test_dram_tier (one build)


def test_copy_round_trip(seed, run_name):
    figures = run_copy(size=256 << 10, back=True, seed=seed, run_name=run_name, **SYSTEM)
    print(figures)
    assert figures["cycles"] > figures["ideal_cycles"]
    # a copy streams: far below 2x the DDR tier's ideal time even at this small size
    assert figures["percent_of_ddr_peak"] > 70.0, figures


@pytest.mark.regress
def test_copy_8mib_bandwidth(run_name):
    figures = run_copy(size=8 << 20, seed=1, run_name=run_name, **SYSTEM)
    print(figures)
    assert figures["percent_of_ddr_peak"] >= 90.0, figures
