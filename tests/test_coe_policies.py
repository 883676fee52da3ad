"""HBM slot policies: each evicts what it should; Belady is optimal (checked against an
exhaustive search) and never worse than LRU/LFU/FIFO; a pinned expert is never evicted."""

from functools import cache

import numpy as np
import pytest

from testbench.coe.errors import NoEvictableSlot
from testbench.coe.hbm_region import HBMRegion
from testbench.coe.plan import plan_routed
from testbench.coe.policies import POLICIES
from testbench.coe.router import RouteDecision
from testbench.coe.scheduler import FCFS, ExpertBatching
from testbench.coe.trace import Request

SEEDS = [1, 2, 3, 4, 5]


def _misses(policy: str, accesses, slots: int) -> int:
    region = HBMRegion(slots, 100, policy=policy)
    return sum(not region.access(e, 100, accesses[i + 1:]).hit for i, e in enumerate(accesses))


def _evictions(policy: str, accesses, slots: int) -> list:
    region = HBMRegion(slots, 100, policy=policy)
    return [region.access(e, 100, accesses[i + 1:]).evicted for i, e in enumerate(accesses)]


def _optimal_misses(accesses, slots: int) -> int:
    """The fewest misses any demand-fetch replacement achieves (exhaustive search)."""
    @cache
    def best(position: int, resident: frozenset) -> int:
        if position == len(accesses):
            return 0
        expert = accesses[position]
        if expert in resident:
            return best(position + 1, resident)
        if len(resident) < slots:
            return 1 + best(position + 1, resident | {expert})
        return 1 + min(best(position + 1, (resident - {victim}) | {expert})
                       for victim in resident)
    return best(0, frozenset())


@pytest.mark.parametrize("accesses, slots, expected", [
    # A, B, A, C with two slots: LRU and LFU drop B, FIFO drops A; neither comes back,
    # so Belady's tie goes to the least recently used, B.
    ("ABAC", 2, {"lru": "B", "lfu": "B", "fifo": "A", "belady": "B"}),
    # A used three times, then B, C: LRU and FIFO drop A, LFU drops B.
    ("AAABC", 2, {"lru": "A", "lfu": "B", "fifo": "A", "belady": "A"}),
    # Belady keeps what comes back soonest: after A, B, C comes B, so A goes.
    ("ABCBA", 2, {"lru": "A", "lfu": "A", "fifo": "A", "belady": "A"}),
    ("ABCAB", 2, {"lru": "A", "lfu": "A", "fifo": "A", "belady": "B"}),
])
def test_each_policy_evicts_its_victim(accesses, slots, expected):
    for policy, victim in expected.items():
        evicted = [e for e in _evictions(policy, list(accesses), slots) if e]
        assert evicted[0] == victim, (policy, evicted)


def test_belady_optimal_and_best_on_random_sequences(seed):
    rng = np.random.default_rng(seed)
    for _ in range(40):
        experts = int(rng.integers(2, 7))
        slots = int(rng.integers(1, experts + 1))
        skew = rng.dirichlet(np.ones(experts) * 0.5)
        accesses = [f"e{int(i)}" for i in rng.choice(experts, int(rng.integers(1, 14)), p=skew)]
        belady = _misses("belady", accesses, slots)
        assert belady == _optimal_misses(tuple(accesses), slots), (accesses, slots)
        for policy in ("lru", "lfu", "fifo"):
            assert belady <= _misses(policy, accesses, slots), (policy, accesses, slots)


def _synthetic_session(rng, requests: int, experts: int):
    names = [f"e{i}" for i in range(experts)]
    popularity = rng.dirichlet(np.ones(experts) * 0.3)
    trace = [Request(i, i, int(rng.integers(1, 5)), np.zeros((1, 1), np.uint16), "")
             for i in range(requests)]
    tokens = max(r.m for r in trace)
    routes = {r.id: RouteDecision(r.id, "", 1.0, str(rng.choice(names, p=popularity)), False,
                                  np.zeros(1, np.uint32), tokens) for r in trace}
    return {name: 64 for name in names}, routes, trace


def test_belady_best_hit_rate_in_plans(seed):
    rng = np.random.default_rng(seed)
    for _ in range(5):
        sizes, routes, trace = _synthetic_session(rng, 120, int(rng.integers(3, 12)))
        slots = int(rng.integers(1, len(sizes)))
        for scheduler in (FCFS(), ExpertBatching(int(rng.integers(2, 10)))):
            rates = {p: plan_routed(sizes, routes, trace, p, scheduler, slots).hit_rate
                     for p in POLICIES}
            assert rates["belady"] == max(rates.values()), (scheduler.describe(), rates)


def test_pinned_experts_never_evicted(seed):
    rng = np.random.default_rng(seed)
    names = [f"e{i}" for i in range(6)]
    for policy in POLICIES:
        region = HBMRegion(3, 100, policy=policy)
        refused = 0
        for _ in range(400):
            action = rng.random()
            if action < 0.6:
                expert = str(rng.choice(names))
                pinned, before = region.pinned, region.resident
                future = [str(e) for e in rng.choice(names, 5)]
                try:
                    admission = region.access(expert, 100, future)
                except NoEvictableSlot:
                    refused += 1
                    assert expert not in before and set(before) == set(pinned)
                    assert region.resident == before and region.pinned == pinned
                    continue
                assert admission.evicted not in pinned
                assert set(region.resident) >= set(pinned)
            elif action < 0.8 and region.resident:
                region.pin(str(rng.choice(sorted(region.resident))))
            elif region.pinned:
                region.unpin(str(rng.choice(sorted(region.pinned))))
        assert refused > 0, policy  # the all-pinned case was exercised
