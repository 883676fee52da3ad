"""The HBM region that holds the experts in use: N slots of a fixed size, one expert each.

The router and the K/V cache live elsewhere in HBM; this region only holds
experts. Slot ``s`` starts at ``base + s * slot_bytes``. An expert brought in goes
to the lowest free slot, or replaces the victim the policy chooses; a pinned
expert (in use) is never the victim. Every method checks everything before it
changes anything, so an error leaves the region exactly as it was.
"""

from dataclasses import dataclass

from .errors import ExpertTooLarge, NoEvictableSlot, UnknownExpert
from .policies import Policy, make_policy

__all__ = ["Admission", "HBMRegion"]


@dataclass(frozen=True)
class Admission:
    """The outcome of one access: the expert's slot, whether it was already there, and
    the expert evicted to make room (``None`` on a hit or when a slot was free)."""

    expert: str
    slot: int
    hit: bool
    evicted: str | None


class HBMRegion:
    """``slots`` slots of ``slot_bytes`` bytes at ``base``, managed by ``policy``."""

    def __init__(self, slots: int, slot_bytes: int, *, base: int = 0, policy="lru"):
        if slots < 1 or slot_bytes < 1:
            raise ValueError(f"need slots >= 1 and slot_bytes >= 1, not {slots}, {slot_bytes}")
        self.slots = slots
        self.slot_bytes = slot_bytes
        self.base = base
        self.policy: Policy = make_policy(policy)
        self._slot_of: dict[str, int] = {}
        self._pins: dict[str, int] = {}
        self._now = 0

    @property
    def region_bytes(self) -> int:
        return self.slots * self.slot_bytes

    @property
    def resident(self) -> dict:
        """``{expert: slot}`` of every expert in the region."""
        return dict(self._slot_of)

    @property
    def pinned(self) -> frozenset:
        return frozenset(self._pins)

    def slot_address(self, slot: int) -> int:
        if not 0 <= slot < self.slots:
            raise ValueError(f"slot {slot} is not in 0..{self.slots - 1}")
        return self.base + slot * self.slot_bytes

    def slot_of(self, expert: str) -> int:
        if expert not in self._slot_of:
            raise UnknownExpert(f"expert {expert!r} is not resident in HBM (resident: "
                                f"{', '.join(sorted(self._slot_of)) or 'none'})")
        return self._slot_of[expert]

    def check_fits(self, expert: str, nbytes: int) -> None:
        if nbytes > self.region_bytes:
            raise ExpertTooLarge(f"expert {expert!r} has {nbytes} bytes, more than the whole HBM "
                                 f"region ({self.slots} slots x {self.slot_bytes} = "
                                 f"{self.region_bytes} bytes)")
        if nbytes > self.slot_bytes:
            raise ExpertTooLarge(f"expert {expert!r} has {nbytes} bytes, more than one HBM slot "
                                 f"({self.slot_bytes} bytes)")

    def access(self, expert: str, nbytes: int, future=()) -> Admission:
        """Use ``expert`` (``nbytes`` of weights): a hit, or bring it in, evicting if needed.
        ``future`` (the experts of the coming accesses) is for the Belady policy."""
        self.check_fits(expert, nbytes)
        now = self._now
        if expert in self._slot_of:
            self.policy.on_access(expert, now)
            self._now += 1
            return Admission(expert, self._slot_of[expert], True, None)
        used = set(self._slot_of.values())
        free = [s for s in range(self.slots) if s not in used]
        evicted = None
        if free:
            slot = free[0]
        else:
            evicted = self.policy.choose_victim(sorted(self._slot_of), self.pinned, now,
                                                tuple(future))
            if evicted is None:
                raise NoEvictableSlot(f"cannot bring in {expert!r}: all {self.slots} HBM slots "
                                      f"hold pinned experts ({', '.join(sorted(self._pins))})")
            if evicted in self._pins or evicted not in self._slot_of:
                raise RuntimeError(f"policy {self.policy.name} chose {evicted!r}, which is "
                                   f"pinned or not resident")
            slot = self._slot_of.pop(evicted)
            self.policy.on_evict(evicted)
        self._slot_of[expert] = slot
        self.policy.on_insert(expert, now)
        self.policy.on_access(expert, now)
        self._now += 1
        return Admission(expert, slot, False, evicted)

    def pin(self, expert: str) -> None:
        """Mark a resident expert in use (counted: pin twice, unpin twice)."""
        self.slot_of(expert)
        self._pins[expert] = self._pins.get(expert, 0) + 1

    def unpin(self, expert: str) -> None:
        if expert not in self._pins:
            raise UnknownExpert(f"expert {expert!r} is not pinned")
        self._pins[expert] -= 1
        if not self._pins[expert]:
            del self._pins[expert]
