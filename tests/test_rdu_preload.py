"""The memory tiers' backdoor on the RDU top (preset ``coe``): bytes preloaded into HBM and
DDR, at any alignment, read back bit-exactly through the host's AXI port and copied by the
copy engine; preloads the scripts must refuse."""

import random

import cocotb
import numpy as np
import pytest

from hdl.bus import RESP_OKAY
from hdl.rdu.config import DDR_BASE, rdu_params
from hdl.rdu.tier_params import memory_tier_params
from testbench.bfm.clock_reset import start_clock_and_reset
from testbench.bfm.dram_tier import TierPort
from testbench.bfm.tier_backdoor import TierBackdoor
from testbench.bfm.words import assert_words_equal
from testbench.runtime import host_program as hp
from testbench.runtime.host_script import HostScript, rdu_design
from testbench.sim.runner import simulate

SEEDS = [1]
CONFIG = rdu_params("coe")
HOST_STALL = 0.3


@cocotb.test()
async def backdoor_rounds(dut):
    """Rounds of unaligned preloads into both tiers, each over the last (the backdoor
    read-modify-writes the words a range covers in part), then every byte of both tiers'
    windows read through the host port against a byte model."""
    rng = random.Random(cocotb.RANDOM_SEED)
    await start_clock_and_reset(dut)
    tiers = memory_tier_params(CONFIG)
    windows = {"hbm": (0, 20_000), "ddr": (DDR_BASE, 40_000)}
    model = {tier: bytearray(size) for tier, (_, size) in windows.items()}  # power-on: zero
    for _ in range(3):
        for tier, (_, size) in windows.items():
            regions = []
            for _ in range(rng.randrange(1, 4)):
                start = rng.randrange(size - 3000)
                data = rng.randbytes(rng.randrange(1, 3000))
                regions.append((start, data))
                model[tier][start:start + len(data)] = data  # a later region wins
            await TierBackdoor(dut, f"{tier}_", tiers[tier]).preload(regions)
    port = TierPort(dut, rng=random.Random(rng.getrandbits(32)), stall=HOST_STALL)
    for tier, (base, size) in windows.items():
        result = await port.read(base, size)
        assert result.resp == RESP_OKAY, f"{tier}: resp {result.resp}"
        got = bytes(result.data)
        if got != model[tier]:
            bad = next(i for i in range(size) if got[i] != model[tier][i])
            raise AssertionError(f"{tier}: first wrong byte at {base + bad:#x}: "
                                 f"{got[bad]:#04x}, expected {model[tier][bad]:#04x}")


def test_backdoor_rounds_read_back_through_the_host_port(seed, run_name, waves):
    simulate(rdu_design(CONFIG), "test_rdu_preload", testcase="backdoor_rounds",
             run_name=run_name, seed=seed, waves=waves)


def test_preloaded_data_read_back_and_copied(seed, run_name, waves):
    """Preload steps of a host program (aligned and not) read back through the host port,
    and a DDR block copied to HBM by the copy engine; the preloads cost no host cycles."""
    rng = np.random.default_rng(seed)
    burst = CONFIG.copy_burst_bytes
    block = rng.integers(0, 1 << 32, size=3 * burst // 4, dtype=np.uint32)
    hbm_words = rng.integers(0, 1 << 32, size=700, dtype=np.uint32)
    odd = rng.integers(0, 256, size=333, dtype=np.uint8)
    script = HostScript(CONFIG)
    ddr = script.preload(block, "block in DDR", tier="ddr", align=burst)
    hbm = script.preload(hbm_words, "words in HBM")
    odd_ddr = ddr + block.nbytes + 4099           # neither beat- nor word-aligned
    script.preload_at(odd_ddr, odd)
    script.preload_at(hbm + 6, odd[:10])          # over the HBM words, mid-word
    hbm_copy = script.allocate(block.nbytes, "copy in HBM", align=burst)
    script.copy(ddr, hbm_copy, block.nbytes, "to_hbm")
    script.read("hbm", hbm, hbm_words.size)
    script.read("ddr", ddr, block.size)
    around = odd_ddr - 3                          # from a word boundary, with 3 bytes before
    script.read("odd", around, (odd.size + 3 + 3) // 4 + 1)
    script.read("copied", hbm_copy, block.size)
    result = script.run(run_name=run_name, seed=seed, waves=waves, host_stall=HOST_STALL)

    want_hbm = hbm_words.copy()
    want_hbm.view(np.uint8)[6:16] = odd[:10]
    assert_words_equal(result["hbm"], want_hbm, "HBM preload, patched mid-word")
    assert_words_equal(result["ddr"], block, "DDR preload")
    got_odd = result["odd"].view(np.uint8)
    assert not got_odd[:3].any() and not got_odd[3 + odd.size:].any(), "bytes around changed"
    assert np.array_equal(got_odd[3:3 + odd.size], odd), "unaligned DDR preload"
    assert_words_equal(result["copied"], block, "DDR -> HBM copy of preloaded data")
    assert result.window("to_hbm")[0] < 100, "the preload took host cycles"
    assert script.last_timing["preload_cycles"] > 0


def test_preloads_the_scripts_refuse():
    script = HostScript(CONFIG)
    with pytest.raises(ValueError, match="not inside one memory tier"):
        script.preload_at(CONFIG.memory_bytes - 4, np.zeros(2, np.uint32))    # past HBM
    with pytest.raises(ValueError, match="not inside one memory tier"):
        script.preload_at(DDR_BASE - 4, np.zeros(2, np.uint32))              # below DDR
    with pytest.raises(ValueError, match="not inside one memory tier"):
        script.preload_at(DDR_BASE + CONFIG.ddr_bytes - 1, np.zeros(1, np.uint16))
    with pytest.raises(ValueError, match="at least one byte"):
        script.preload_at(DDR_BASE, np.zeros(0, np.uint8))
    with pytest.raises(ValueError, match="no memory tiers"):
        HostScript(rdu_params("small")).preload_at(0, np.zeros(4, np.uint32))
    small = HostScript(rdu_params("small"))
    with pytest.raises(ValueError, match="no memory tiers"):
        small.preload(np.zeros(4, np.uint32))
    assert small.tensors.mark() == small.tensors.base, "a refused preload kept its allocation"
    assert not script.steps, "a refused preload became a step"

    script.preload(np.arange(8, dtype=np.uint32), tier="ddr")
    script.write(np.arange(8, dtype=np.uint32))
    with pytest.raises(ValueError, match="before every other step.*step 1 is a Write"):
        script.preload_at(DDR_BASE, np.zeros(4, np.uint32))
    assert [type(step) for step in script.steps] == [hp.Preload, hp.Write]
