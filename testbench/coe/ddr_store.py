"""The DDR layout of every expert, preloaded at boot: one contiguous, aligned block each.

Experts are placed in the order given, each at the next multiple of ``alignment``
after the previous one. Placing fails with :class:`DDRFull` before anything is
placed if the whole set does not fit, so a failed preload leaves the store as it
was.
"""

from dataclasses import dataclass

from .errors import DDRFull, UnknownExpert

__all__ = ["DDRPlacement", "DDRStore"]


@dataclass(frozen=True)
class DDRPlacement:
    """Where one expert's weights sit in DDR."""

    expert: str
    address: int
    nbytes: int


def _align(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment


class DDRStore:
    """``capacity_bytes`` of DDR starting at ``base``, holding experts by name."""

    def __init__(self, capacity_bytes: int, *, base: int = 0, alignment: int = 64):
        if capacity_bytes < 0 or alignment < 1:
            raise ValueError("capacity must be >= 0 and alignment >= 1")
        self.capacity_bytes = capacity_bytes
        self.base = base
        self.alignment = alignment
        self._placements: dict[str, DDRPlacement] = {}
        self._end = 0

    @property
    def used_bytes(self) -> int:
        return self._end

    @property
    def layout(self) -> list[DDRPlacement]:
        return list(self._placements.values())

    def preload(self, experts) -> list[DDRPlacement]:
        """Place every ``(name, nbytes)`` of ``experts`` (pairs or a dict), all or nothing."""
        items = list(experts.items() if isinstance(experts, dict) else experts)
        names = [name for name, _ in items]
        for name in names:
            if name in self._placements or names.count(name) > 1:
                raise ValueError(f"expert {name!r} is placed in DDR twice")
        placed, end = [], self._end
        for name, nbytes in items:
            if nbytes < 1:
                raise ValueError(f"expert {name!r} has {nbytes} bytes")
            start = _align(end, self.alignment)
            placed.append(DDRPlacement(name, self.base + start, nbytes))
            end = start + nbytes
        if end > self.capacity_bytes:
            total = sum(n for _, n in items)
            raise DDRFull(f"{len(items)} experts ({total} bytes, {end - self._end} with "
                          f"alignment) do not fit the DDR store: {self.capacity_bytes - self._end}"
                          f" of {self.capacity_bytes} bytes free")
        for placement in placed:
            self._placements[placement.expert] = placement
        self._end = end
        return placed

    def placement(self, expert: str) -> DDRPlacement:
        if expert not in self._placements:
            raise UnknownExpert(f"expert {expert!r} is not in DDR (DDR holds "
                                f"{len(self._placements)} experts)")
        return self._placements[expert]

    def address(self, expert: str) -> int:
        return self.placement(expert).address
