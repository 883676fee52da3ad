"""HBM region and DDR store: addresses, and errors that leave nothing half changed."""

import pytest

from testbench.coe.ddr_store import DDRStore
from testbench.coe.errors import DDRFull, ExpertTooLarge, UnknownExpert
from testbench.coe.hbm_region import HBMRegion


def _state(region: HBMRegion):
    policy = region.policy
    return (region.resident, region.pinned, dict(policy.last_use), dict(policy.uses),
            dict(policy.inserted))


def test_slots_fill_lowest_first_then_evict():
    region = HBMRegion(2, 1000, base=0x4000)
    assert region.access("a", 1000).slot == 0
    assert region.access("b", 10).slot == 1
    assert region.slot_address(1) == 0x4000 + 1000
    assert region.access("a", 1000).hit
    admission = region.access("c", 999)
    assert (admission.slot, admission.hit, admission.evicted) == (1, False, "b")
    assert region.resident == {"a": 0, "c": 1}


def test_expert_larger_than_slot_or_region_leaves_region_unchanged():
    region = HBMRegion(3, 1000)
    region.access("a", 1000)
    region.pin("a")
    before = _state(region)
    with pytest.raises(ExpertTooLarge, match="more than one HBM slot \\(1000 bytes\\)"):
        region.access("big", 1001)
    assert _state(region) == before
    with pytest.raises(ExpertTooLarge, match="more than the whole HBM region"):
        region.access("huge", 3001)
    assert _state(region) == before


def test_unknown_expert_errors_leave_region_unchanged():
    region = HBMRegion(2, 10)
    region.access("a", 10)
    before = _state(region)
    with pytest.raises(UnknownExpert, match="'zz' is not resident"):
        region.pin("zz")
    with pytest.raises(UnknownExpert, match="'a' is not pinned"):
        region.unpin("a")
    with pytest.raises(UnknownExpert):
        region.slot_of("zz")
    assert _state(region) == before


def test_ddr_layout_aligned_and_disjoint():
    store = DDRStore(10_000, base=0x1000_0000, alignment=64)
    placed = store.preload({"a": 100, "b": 64, "c": 1})
    assert [p.address - 0x1000_0000 for p in placed] == [0, 128, 192]
    assert store.address("b") == 0x1000_0000 + 128
    assert store.used_bytes == 193
    with pytest.raises(UnknownExpert, match="'d' is not in DDR"):
        store.address("d")


def test_ddr_full_places_nothing():
    store = DDRStore(1000, alignment=64)
    store.preload([("a", 500)])
    with pytest.raises(DDRFull, match="do not fit the DDR store: 500 of 1000 bytes free"):
        store.preload([("b", 200), ("c", 300)])  # 512 + 200 -> 768 + 300 > 1000
    assert [p.expert for p in store.layout] == ["a"] and store.used_bytes == 500
    with pytest.raises(UnknownExpert):
        store.address("b")
    store.preload([("b", 200), ("c", 200)])
    assert store.address("c") == 768


def test_ddr_rejects_duplicates_without_placing():
    store = DDRStore(1000)
    store.preload([("a", 10)])
    with pytest.raises(ValueError, match="twice"):
        store.preload([("b", 10), ("a", 10)])
    with pytest.raises(ValueError, match="twice"):
        store.preload([("c", 10), ("c", 10)])
    assert [p.expert for p in store.layout] == ["a"]
