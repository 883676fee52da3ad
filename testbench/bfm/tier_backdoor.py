"""A DRAM tier's backdoor from the cocotb side: byte ranges in, device words out.

The ports ``<prefix>pl_en``/``pl_index``/``pl_data`` write one device word (one atom of
every bank of every channel, :mod:`testbench.golden.dram`) per cycle;
``<prefix>dbg_index``/``dbg_rdata`` read one back a cycle later. Both work whatever the
controllers do, so a preload costs one simulated cycle per word and no AXI beat.
:meth:`TierBackdoor.preload` takes byte ranges of any alignment: the ranges are merged
first (a later one wins where they overlap), and a word they cover only in part is
read back through ``dbg_*`` and written with its other bytes unchanged
(read-modify-write), so nothing outside the ranges changes.
"""

import numpy as np
from cocotb.triggers import ReadOnly, RisingEdge

from testbench.golden.dram import atom_locations

__all__ = ["TierBackdoor"]


class TierBackdoor:
    """The backdoor ports ``<prefix>pl_*``/``<prefix>dbg_*`` of one tier of ``dut``
    (``prefix`` e.g. ``"ddr_"``); ``config`` is the tier's TierParams. On the system top
    the ``pl_index``/``pl_data`` inputs are shared by the sockets: ``shared_prefix``
    (e.g. ``"ddr_"`` beside ``prefix="s3_ddr_"``) names them."""

    def __init__(self, dut, prefix: str, config, shared_prefix: str | None = None):
        self.dut, self.config = dut, config
        p = config.dram
        self._shape = (config.channels, p.banks, p.atom_bytes)  # one word, as bytes
        self.word_bytes = int(np.prod(self._shape))
        shared = prefix if shared_prefix is None else shared_prefix
        self._pl = [getattr(dut, f"{prefix}pl_en")] + [getattr(dut, f"{shared}pl_{name}")
                                                        for name in ("index", "data")]
        self._dbg_index = getattr(dut, f"{prefix}dbg_index")
        self._dbg_rdata = getattr(dut, f"{prefix}dbg_rdata")

    async def write_words(self, indices, words: np.ndarray) -> None:
        """Write ``words`` ((n, word_bytes) uint8) at device ``indices``, one per cycle."""
        en, index, data = self._pl
        values = [int.from_bytes(word.tobytes(), "little") for word in words]
        for i, value in zip(np.asarray(indices).tolist(), values, strict=True):
            await RisingEdge(self.dut.clk)
            en.value, index.value, data.value = 1, i, value
        await RisingEdge(self.dut.clk)
        en.value = 0

    async def read_words(self, indices) -> np.ndarray:
        """The words at device ``indices``, (n, word_bytes) uint8; one cycle each (the
        next index goes out while the word of the last one is read)."""
        indices = np.asarray(indices).tolist()
        out = np.zeros((len(indices), self.word_bytes), np.uint8)
        for k, i in enumerate([*indices, None]):
            await RisingEdge(self.dut.clk)
            if i is not None:
                self._dbg_index.value = i
            await ReadOnly()
            if k:
                out[k - 1] = np.frombuffer(
                    int(self._dbg_rdata.value).to_bytes(self.word_bytes, "little"), np.uint8)
        return out

    async def preload(self, regions) -> int:
        """Place every ``(base, data)`` of ``regions`` (tier byte address, bytes or a
        uint8 array) in the tier, in order; returns the cycles it took."""
        if not regions:
            return 0
        indices, words, known = self._merge(regions)
        partial = np.flatnonzero(~known.all(axis=(1, 2, 3)))
        cycles = 0
        if partial.size:
            current = (await self.read_words(indices[partial])).reshape(-1, *self._shape)
            words[partial] = np.where(known[partial], words[partial], current)
            cycles += partial.size + 1
        await self.write_words(indices, words.reshape(indices.size, -1))
        return cycles + indices.size + 1

    def _merge(self, regions):
        """(indices, words, known): every device word the regions touch, sorted, with
        their bytes and which of those bytes the regions set."""
        atom = self.config.dram.atom_bytes
        pieces = []
        for base, data in regions:
            data = np.frombuffer(bytes(data), np.uint8) if not isinstance(
                data, np.ndarray) else np.ascontiguousarray(data).view(np.uint8).ravel()
            start = base - base % atom
            end = -(-(base + data.size) // atom) * atom
            atoms = np.zeros(end - start, np.uint8)
            mask = np.zeros(end - start, bool)
            atoms[base - start:base - start + data.size] = data
            mask[base - start:base - start + data.size] = True
            pieces.append((atom_locations(self.config, start, end - start),
                           atoms.reshape(-1, atom), mask.reshape(-1, atom)))
        indices = np.unique(np.concatenate([where[0] for where, _, _ in pieces]))
        words = np.zeros((indices.size, *self._shape), np.uint8)
        known = np.zeros(words.shape, bool)
        for (index, channel, bank), atoms, mask in pieces:
            # one region's atoms are distinct (word, channel, bank) places
            place = (np.searchsorted(indices, index), channel, bank)
            words[place] = np.where(mask, atoms, words[place])
            known[place] |= mask
        return indices, words, known
