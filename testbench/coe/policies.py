"""HBM slot replacement policies: LRU (default), LFU, FIFO and Belady's offline optimum.

A policy observes the region (``on_insert``, ``on_access``, ``on_evict``, with
``now`` a counter that grows with every access) and answers
``choose_victim(resident, pinned, now, future)``: which of the ``resident``
experts to evict, never one in ``pinned``; ``None`` if every resident expert is
pinned. ``future`` is the sequence of experts the coming accesses will use, after
the current one; only Belady looks at it. Ties go to the least recently used, then
to the smallest name, so every choice is deterministic.

* LRU: the expert used longest ago.
* LFU: the fewest accesses since it was last brought in (the count restarts when an
  evicted expert comes back).
* FIFO: the expert brought in longest ago.
* Belady: the expert whose next use is furthest in ``future`` (never used again
  counts as infinitely far); with equal-size slots this maximises the hit rate.
"""

__all__ = ["Policy", "LRU", "LFU", "FIFO", "Belady", "POLICIES", "make_policy"]


class Policy:
    """Base: bookkeeping of insert time, last use and use count per resident expert."""

    name = "policy"

    def __init__(self):
        self.inserted: dict[str, int] = {}
        self.last_use: dict[str, int] = {}
        self.uses: dict[str, int] = {}

    def on_insert(self, expert: str, now: int) -> None:
        self.inserted[expert] = now
        self.last_use[expert] = now
        self.uses[expert] = 0

    def on_access(self, expert: str, now: int) -> None:
        self.last_use[expert] = now
        self.uses[expert] = self.uses.get(expert, 0) + 1

    def on_evict(self, expert: str) -> None:
        for table in (self.inserted, self.last_use, self.uses):
            table.pop(expert, None)

    def choose_victim(self, resident, pinned, now: int, future) -> str | None:
        candidates = [e for e in resident if e not in pinned]
        if not candidates:
            return None
        return min(candidates, key=lambda e: (*self._key(e, future), self.last_use.get(e, -1), e))

    def _key(self, expert: str, future) -> tuple:
        """Smaller evicts first; ties fall to least recently used, then name."""
        raise NotImplementedError


class LRU(Policy):
    """Evict the least recently used expert."""

    name = "lru"

    def _key(self, expert, future):
        return ()


class LFU(Policy):
    """Evict the least frequently used expert (uses since it was brought in)."""

    name = "lfu"

    def _key(self, expert, future):
        return (self.uses.get(expert, 0),)


class FIFO(Policy):
    """Evict the expert that was brought in first."""

    name = "fifo"

    def _key(self, expert, future):
        return (self.inserted.get(expert, -1),)


class Belady(Policy):
    """Offline optimum: evict the expert needed furthest in the future (or never)."""

    name = "belady"

    def _key(self, expert, future):
        for distance, upcoming in enumerate(future):
            if upcoming == expert:
                return (-distance,)
        return (-float("inf"),)


POLICIES = {cls.name: cls for cls in (LRU, LFU, FIFO, Belady)}


def make_policy(policy) -> Policy:
    """A fresh policy from a name (``lru``, ``lfu``, ``fifo``, ``belady``), a class or an
    instance (used as it is)."""
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, type) and issubclass(policy, Policy):
        return policy()
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; policies: {', '.join(POLICIES)}")
    return POLICIES[policy]()
