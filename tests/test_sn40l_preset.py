"""The ``sn40l`` preset keeps the SN40L's ratios (the comment next to it in
hdl/rdu/config.py): compute over HBM bandwidth, HBM over DDR bandwidth, DDR over HBM
capacity, on-chip memory against one expert, and room for the experts of a
Composition-of-Experts session in HBM and DDR. Nothing here builds or simulates the
RTL, except the Verilog emission (regress)."""

import pytest
from coe_common import expert_directory

from hdl.rdu.config import (
    DDR_ROW_BYTES,
    HBM_ROW_BYTES,
    UnitKind,
    peak_flops_per_cycle,
    pmu_bytes,
    rdu_params,
)
from hdl.rdu.tier_params import flops_per_hbm_byte, hbm_peak_bytes_per_cycle, memory_tier_params
from memory_ctrl.tier_params import bandwidth_ratio, capacity_ratio
from testbench.coe.machine import CoEMachine, expert_image_bytes
from testbench.coe.router import load_experts_and_router
from testbench.coe.trace import make_trace
from testbench.compiler.transformer import DecoderShape
from testbench.runtime.memory_map import ddr_region, tensor_region

CONFIG = rdu_params("sn40l")
TIERS = memory_tier_params(CONFIG)
#: the experts of the CoE sessions on this preset
SHAPE = DecoderShape(d_model=64, heads=4, head_dim=16, d_ff=128, tokens=64)
EXPERTS = 16
SLOTS = 4
#: the SN40L: 638 BF16 TFLOPS over about 1.8 TB/s of HBM
SN40L_FLOPS_PER_BYTE = 638e12 / 1.8e12


@pytest.fixture(scope="module")
def image_bytes():
    return expert_image_bytes(CONFIG, SHAPE)


def test_tile_is_4x4_in_front_of_the_tiers():
    kinds = [kind for kind, _ in CONFIG.units()]
    assert (CONFIG.rows, CONFIG.cols) == (4, 4)
    assert kinds.count(UnitKind.PCU) == kinds.count(UnitKind.PMU) == 8
    assert CONFIG.memory == "tiers"
    assert CONFIG.memory_bytes % (CONFIG.hbm_channels * HBM_ROW_BYTES) == 0
    assert CONFIG.ddr_bytes % DDR_ROW_BYTES == 0
    assert TIERS["hbm"].capacity == CONFIG.memory_bytes
    assert TIERS["ddr"].capacity == CONFIG.ddr_bytes


def test_decode_is_memory_bound_and_prefill_compute_bound():
    assert peak_flops_per_cycle(CONFIG) == 8 * 8 * 8 * 2
    assert hbm_peak_bytes_per_cycle(CONFIG) == 4 * 32
    crossover = flops_per_hbm_byte(CONFIG)  # the batch of a bf16 GEMV that is balanced
    assert crossover == 8
    assert 1 < crossover < 64  # batch-1 decode memory-bound, a 64-token prefill not
    assert crossover < SN40L_FLOPS_PER_BYTE


def test_peak_flops_needs_the_systolic_array():
    assert peak_flops_per_cycle(rdu_params("small")) == 2 * 4 * 4
    with pytest.raises(ValueError, match="systolic"):
        peak_flops_per_cycle(rdu_params("plasticine"))


def test_hbm_about_9x_ddr_bandwidth_and_ddr_24x_hbm_capacity():
    assert bandwidth_ratio(TIERS) == pytest.approx(9.0)
    assert 8 <= bandwidth_ratio(TIERS) <= 10
    assert capacity_ratio(TIERS) == 24
    assert CONFIG.ddr_bytes >= 16 * CONFIG.hbm_bytes


def test_pmus_hold_much_less_than_one_expert(image_bytes):
    assert pmu_bytes(CONFIG) == 8 * 8 * 64 * 4
    assert 8 * pmu_bytes(CONFIG) < image_bytes
    assert 100 * pmu_bytes(CONFIG) < CONFIG.hbm_bytes


def test_hbm_holds_router_scratch_and_slots_ddr_holds_many_experts(tmp_path_factory,
                                                                     image_bytes):
    directory = expert_directory(tmp_path_factory, EXPERTS, SHAPE, seed=5)
    experts, router = load_experts_and_router(directory, SHAPE, lanes=CONFIG.lanes,
                                              pmu_depth=CONFIG.pmu_depth)
    trace = make_trace(router.checkpoint, 4, 1, tokens=(8, 8))
    machine = CoEMachine(CONFIG, router, {e.name: e for e in experts}, trace, slots=SLOTS,
                         shape=SHAPE)
    assert machine.slot_bytes == image_bytes
    # the router and the scratch buffers sit below the slots
    _, tensor_bytes = tensor_region(CONFIG.memory_bytes)
    slots = (tensor_bytes - machine.slot_base) // image_bytes
    _, ddr_bytes = ddr_region(CONFIG)
    assert slots >= SLOTS
    assert ddr_bytes // image_bytes >= EXPERTS
    print(f"expert image {image_bytes:,} B; HBM: router and scratch {machine.slot_base:,} B, "
          f"{slots} slots; DDR: {ddr_bytes // image_bytes} experts")


@pytest.mark.regress
def test_verilog_emits():
    from hdl.rdu.top import RDUTop

    verilog = RDUTop(CONFIG).emit_verilog("rdu")
    assert "module rdu(" in verilog
