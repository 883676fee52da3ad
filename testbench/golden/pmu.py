"""Transaction-level golden model of the Pattern Memory Unit.

:class:`PMUModel` keeps the bank contents across configurations (as the RTL
does) and turns one configuration plus its input stream into exactly the output
stream the RTL must produce (``half_write`` included: see
:mod:`pcu_pmu.pmu.config`). Passes run in the order write 0, read 0, write 1,
read 1, ...: the RTL overlaps write pass k+1 with read pass k, but they use
different buffers, and write pass k+N waits for read pass k, so the result is
the same.
"""

from dataclasses import dataclass

import numpy as np

from pcu_pmu.pmu.config import AddressGenConfig, PMUConfig, Port, ReadLayout, WriteLayout
from pcu_pmu.pmu.params import PMUParams

__all__ = ["PMUModel", "PMUResult", "sweep_addresses"]

ADDR_MASK = (1 << 32) - 1


def sweep_addresses(side: AddressGenConfig) -> np.ndarray:
    """The addresses one generator sweep visits, in order (level 0 fastest), as int64."""
    total = np.zeros((), dtype=np.int64)
    for level in reversed(range(len(side.bounds))):
        steps = np.arange(side.bounds[level], dtype=np.int64) * side.strides[level]
        total = total[..., None] + steps
    return (total.reshape(-1) + side.base) & ADDR_MASK


def _last_wins(keys: np.ndarray) -> np.ndarray:
    """Indices of the last occurrence of every key (later writes win), in any order."""
    reversed_keys = keys[::-1]
    _, first = np.unique(reversed_keys, return_index=True)
    return len(keys) - 1 - first


@dataclass
class PMUResult:
    """What one configuration produced, plus facts the coverage model samples."""

    vec_out: np.ndarray   # (beats, lanes) uint64
    sca_out: np.ndarray   # (beats,) uint64
    max_row_written: int  # highest physical row written (-1 if none)
    writes: int           # beats stored (in range)
    skipped_writes: int   # beats consumed and dropped (out of range)


class PMUModel:
    """The banks of one PMU and what a configuration does to them."""

    def __init__(self, params: PMUParams):
        self.params = params
        self.mem = np.zeros((params.banks, params.depth), dtype=np.uint64)

    def input_beats(self, config: PMUConfig) -> int:
        return config.passes * config.write.iterations

    def _scalar_bank_row(self, config: PMUConfig, local: np.ndarray):
        shift, bank_bits = config.bank_shift, self.params.bank_bits
        bank = (local >> shift) & (self.params.banks - 1)
        row = (local & ((1 << shift) - 1)) | ((local >> (shift + bank_bits)) << shift)
        return bank, row

    def _write_banks(self, config: PMUConfig, local: np.ndarray) -> np.ndarray:
        """Bank of every lane of the vector writes at buffer rows ``local``."""
        banks = self.params.banks
        rot = local % banks if config.write_layout is WriteLayout.DIAGONAL else 0
        return (np.arange(banks)[None, :] + np.asarray(rot)[..., None]) % banks

    def _write_halves(self, config: PMUConfig, local, beats, offset: int) -> np.ndarray:
        """``half_write`` vector writes (distinct local addresses); return the rows written."""
        rows = config.buffer_rows(self.params)
        low = np.uint64((1 << (self.params.width // 2)) - 1)
        high = np.uint64((1 << self.params.width) - 1) ^ low
        written = []
        # One half at a time: both halves of one row may be written in the same pass.
        for half, ours in ((0, low), (1, high)):
            pick = local // rows == half
            row_local = local[pick] % rows
            bank = self._write_banks(config, row_local)
            row = row_local + offset
            old = self.mem[bank, row[:, None]]
            self.mem[bank, row[:, None]] = (old & ~ours) | (beats[pick] & ours)
            written.append(row)
        return np.concatenate(written)

    def run(self, config: PMUConfig, data: np.ndarray) -> PMUResult:
        """Run ``config`` on ``data`` (vector beats (n, lanes) or scalar words (n,))."""
        p = self.params
        config.validate(p)
        data = np.asarray(data, dtype=np.uint64)
        want_shape = ((self.input_beats(config), p.lanes) if config.write_port is Port.VECTOR
                      else (self.input_beats(config),))
        if data.shape != want_shape:
            raise ValueError(f"the write side consumes {want_shape} input, not {data.shape}")
        mask = np.uint64((1 << p.width) - 1)
        data = data & mask
        rows = config.buffer_rows(p)
        w_addr, r_addr = sweep_addresses(config.write), sweep_addresses(config.read)
        per_pass = config.write.iterations
        vec_out, sca_out = [], []
        max_row, writes, skipped = -1, 0, 0
        for k in range(config.passes):
            offset = (k % config.n_buffers) * rows
            beats = data[k * per_pass:(k + 1) * per_pass]
            keep = (w_addr >= config.write.lo) & (w_addr < config.write.hi)
            local = w_addr[keep] - config.write.lo
            beats = beats[keep]
            writes += int(keep.sum())
            skipped += int((~keep).sum())
            if config.write_port is Port.VECTOR:
                last = _last_wins(local)
                local, beats = local[last], beats[last]
                if config.half_write:
                    row = self._write_halves(config, local, beats, offset)
                else:
                    row = local + offset
                    self.mem[self._write_banks(config, local), row[:, None]] = beats
            else:
                bank, row = self._scalar_bank_row(config, local)
                row = row + offset
                last = _last_wins(bank * p.depth + row)
                bank, row = bank[last], row[last]
                self.mem[bank, row] = beats[last]
            if len(row):
                max_row = max(max_row, int(row.max()))

            hit = (r_addr >= config.read.lo) & (r_addr < config.read.hi)
            local = r_addr[hit] - config.read.lo
            lanes = np.arange(p.banks)[None, :]
            if config.read_port is Port.SCALAR:
                bank, row = self._scalar_bank_row(config, local)
                sca_out.append(self.mem[bank, row + offset])
            elif config.read_layout is ReadLayout.TRANSPOSED:
                column, tile = local % p.banks, local // p.banks
                bank = (lanes + column[:, None]) % p.banks
                vec_out.append(self.mem[bank, (tile * p.banks + offset)[:, None] + lanes])
            else:
                rot = local % p.banks if config.read_layout is ReadLayout.DIAGONAL else 0
                bank = (lanes + np.asarray(rot)[..., None]) % p.banks
                vec_out.append(self.mem[bank, (local + offset)[:, None]])
        vec = (np.concatenate(vec_out) if vec_out else np.zeros((0, p.lanes), np.uint64))
        sca = (np.concatenate(sca_out) if sca_out else np.zeros(0, np.uint64))
        return PMUResult(vec.astype(np.uint64), sca.astype(np.uint64), max_row, writes, skipped)
