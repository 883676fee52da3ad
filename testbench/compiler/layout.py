"""How tensors sit in device memory, and the tiling rules the compiler and golden model share.

Standard layout: a ``[rows, cols]`` tensor is stored row-major as ``rows`` rows of
``cpad = ceil(cols / lanes) * lanes`` 32-bit words (fp32 bits; bf16 results of
``to_bf16`` zero-extended, as the PCU tail writes them), so every row is a whole
number of beats. The ``cpad - cols`` padding words of each row hold a value the
compiler chooses (see :mod:`.padding`). A ``[rows, 1]`` tensor is one beat per row,
the value in lane 0, which is exactly how the AGCU writes scalar-fabric results.

GEMM tiling (:class:`GemmPlan`): output tiles of ``lanes x lanes``; K is cut into
``chunks`` equal chunks of ``kc <= pmu_depth`` (K padded with bf16 zeros to
``chunks * kc``); a kernel computes ``tiles_per_kernel`` tiles of one tile-row for
one K chunk (its packed operands fill at most the PMU). Partial products combine in
chunk order: ``C = (((P0 + P1) + P2) + ...)`` with binary32 adds.
"""

from dataclasses import dataclass
from math import ceil

import numpy as np

__all__ = ["padded_cols", "beats_per_row", "pack", "unpack", "GemmPlan", "max_levels"]


def padded_cols(cols: int, lanes: int) -> int:
    return ceil(cols / lanes) * lanes


def beats_per_row(cols: int, lanes: int) -> int:
    return ceil(cols / lanes)


def pack(words: np.ndarray, pad: int, lanes: int) -> np.ndarray:
    """``[rows, cols]`` uint32 -> ``[rows, cpad]`` uint32 with ``pad`` in the padding."""
    words = np.asarray(words, np.uint32)
    rows, cols = words.shape
    out = np.full((rows, padded_cols(cols, lanes)), np.uint32(pad), dtype=np.uint32)
    out[:, :cols] = words
    return out


def unpack(stored: np.ndarray, shape: tuple, lanes: int) -> np.ndarray:
    """The ``[rows, cols]`` words of a tensor from the words of its buffer."""
    rows, cols = shape
    return np.asarray(stored, np.uint32).reshape(-1)[:rows * padded_cols(cols, lanes)].reshape(
        rows, -1)[:, :cols]


def max_levels(cols: int, lanes: int) -> int:
    """Tree levels of ``lanes`` values each a ``row_max`` over ``cols`` needs (>= 1)."""
    levels, span = 1, lanes
    while span < cols:
        levels, span = levels + 1, span * lanes
    return levels


@dataclass(frozen=True)
class GemmPlan:
    """Tiles, K chunks and kernels of one ``[m, k] x [k, n]`` GEMM on ``lanes`` lanes."""

    m: int
    k: int
    n: int
    lanes: int
    pmu_depth: int

    @property
    def tile_rows(self) -> int:
        return ceil(self.m / self.lanes)

    @property
    def tile_cols(self) -> int:
        return ceil(self.n / self.lanes)

    @property
    def chunks(self) -> int:
        return ceil(self.k / self.pmu_depth)

    @property
    def kc(self) -> int:
        return ceil(self.k / self.chunks)

    @property
    def tiles_per_kernel(self) -> int:
        return max(1, min(self.tile_cols, self.pmu_depth // self.kc))

    def batches(self):
        """(tile row, first tile col, tile count) of every kernel of one K chunk."""
        for ti in range(self.tile_rows):
            for tj in range(0, self.tile_cols, self.tiles_per_kernel):
                yield ti, tj, min(self.tiles_per_kernel, self.tile_cols - tj)

    def padded_operands(self, a: np.ndarray, b: np.ndarray):
        """bf16 A ``[rows_pad, k_pad]`` and B ``[k_pad, cols_pad]`` with zero padding."""
        kp = self.chunks * self.kc
        ap = np.zeros((self.tile_rows * self.lanes, kp), np.uint16)
        bp = np.zeros((kp, self.tile_cols * self.lanes), np.uint16)
        ap[:self.m, :self.k] = a
        bp[:self.k, :self.n] = b
        return ap, bp

    def pack(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The systolic operand vectors, ordered (chunk, tile row, tile col, k): lane i of
        vector k holds ``a[ti*L + i][c*kc + k]`` (bits 0-15) and ``b[c*kc + k][tj*L + i]``
        (bits 16-31)."""
        ap, bp = self.padded_operands(a, b)
        lanes, kc = self.lanes, self.kc
        # a4[c, ti, k, i] and b4[c, tj, k, i]
        a4 = ap.reshape(self.tile_rows, lanes, self.chunks, kc).transpose(2, 0, 3, 1)
        b4 = bp.reshape(self.chunks, kc, self.tile_cols, lanes).transpose(0, 2, 1, 3)
        words = (a4[:, :, None].astype(np.uint32) | (b4[:, None].astype(np.uint32) << 16))
        return np.ascontiguousarray(words.reshape(-1, lanes))

    def packed_index(self, chunk: int, ti: int, tj: int) -> int:
        """Index of the first vector of tile (ti, tj), chunk ``chunk`` in :meth:`pack`."""
        return ((chunk * self.tile_rows + ti) * self.tile_cols + tj) * self.kc
