"""Byte address -> (channel, bank group, bank, row, column) of a tier; configurable order.

The atom offset (byte within one column access) is always the lowest field;
``order`` lists the other fields from least to most significant. The row is the
top field and may be any count (not only a power of two): the tier's capacity
is ``rows x`` everything below it, and addresses at or above it are out of range.
"""

import numpy as np

from .presets import DramPreset

__all__ = ["AddressMap", "FIELDS", "DEFAULT_ORDER"]

FIELDS = ("channel", "group", "bank", "column", "row")
# Channel lowest: consecutive atoms go to different channels; bank group next so a
# stream alternates groups (tCCD_S instead of tCCD_L); then column (row hits), bank.
DEFAULT_ORDER = ("channel", "group", "column", "bank", "row")


def _log2(value: int) -> int:
    return value.bit_length() - 1


class AddressMap:
    """Field layout of one tier's byte addresses."""

    def __init__(self, preset: DramPreset, channels: int, order=DEFAULT_ORDER):
        order = tuple(order)
        if sorted(order) != sorted(FIELDS):
            raise ValueError(f"address order must name each of {FIELDS} once, not {order}")
        if order[-1] != "row":
            raise ValueError(f"the row must be the most significant field, not in {order}")
        if channels < 1 or channels & (channels - 1):
            raise ValueError(f"channels must be a power of two, not {channels}")
        self._preset = preset
        self._channels = channels
        self._order = order
        widths = {"channel": _log2(channels), "group": _log2(preset.bank_groups),
                  "bank": _log2(preset.banks_per_group), "column": _log2(preset.atoms_per_row),
                  "row": max(1, (preset.rows - 1).bit_length())}
        self._widths = widths
        self._offsets = {}
        position = _log2(preset.atom_bytes)
        for name in order:
            self._offsets[name] = position
            position += widths[name]

    @property
    def order(self) -> tuple:
        return self._order

    @property
    def channels(self) -> int:
        return self._channels

    @property
    def preset(self) -> DramPreset:
        return self._preset

    @property
    def offset_bits(self) -> int:
        return _log2(self._preset.atom_bytes)

    def width(self, name: str) -> int:
        return self._widths[name]

    def offset(self, name: str) -> int:
        return self._offsets[name]

    @property
    def capacity(self) -> int:
        return self._preset.channel_bytes * self._channels

    @property
    def address_bits(self) -> int:
        return max(1, (self.capacity - 1).bit_length())

    def field(self, address, name: str):
        """Field ``name`` of ``address``: an Amaranth value or a NumPy integer array."""
        lo, width = self._offsets[name], self._widths[name]
        if isinstance(address, (np.ndarray, int, np.integer)):
            return (np.asarray(address, dtype=np.uint64) >> np.uint64(lo)) & np.uint64(
                (1 << width) - 1) if width else np.zeros_like(np.asarray(address, np.uint64))
        if width:
            return address[lo:lo + width]
        from amaranth.hdl import Cat  # here: the host side uses the NumPy form only

        return Cat()

    def decode(self, address) -> dict:
        """All fields of NumPy addresses, plus the flat bank index (group-major)."""
        fields = {name: self.field(address, name) for name in FIELDS}
        fields["flat_bank"] = (fields["group"] * np.uint64(self._preset.banks_per_group)
                               + fields["bank"])
        return fields
