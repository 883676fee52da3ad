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
one K chunk (its operands fill at most the PMU). Partial products combine in
chunk order: ``C = (((P0 + P1) + P2) + ...)`` with binary32 adds.

GEMM operand layouts (one beat = ``lanes`` 32-bit words; A and B live in separate
buffers, so B, the weights, can stay in device memory across runs):

* A layout (:meth:`GemmPlan.a_layout`): ``[chunks, tile_rows, kc, lanes]``, lane i
  of vector (c, ti, k) holds ``a[ti*L + i][c*kc + k]`` in bits 0-15 (bits 16-31 zero).
* B layout (:meth:`GemmPlan.b_layout`): ``[chunks, tile_cols, kc, lanes]``, lane i
  of vector (c, tj, k) holds ``b[c*kc + k][tj*L + i]`` in bits 16-31 (bits 0-15 zero).

A kernel's PMU writes both with ``half_write`` and then holds, for its tiles, exactly
the systolic operand words of :meth:`GemmPlan.pack` (A half | B half).
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

    @property
    def k_padded(self) -> int:
        return self.chunks * self.kc

    def padded_a(self, a: np.ndarray) -> np.ndarray:
        """bf16 A ``[tile_rows * lanes, k_padded]`` with zero padding."""
        ap = np.zeros((self.tile_rows * self.lanes, self.k_padded), np.uint16)
        ap[:self.m, :self.k] = a
        return ap

    def padded_b(self, b: np.ndarray) -> np.ndarray:
        """bf16 B ``[k_padded, tile_cols * lanes]`` with zero padding."""
        bp = np.zeros((self.k_padded, self.tile_cols * self.lanes), np.uint16)
        bp[:self.k, :self.n] = b
        return bp

    def padded_operands(self, a: np.ndarray, b: np.ndarray):
        """bf16 A ``[rows_pad, k_pad]`` and B ``[k_pad, cols_pad]`` with zero padding."""
        return self.padded_a(a), self.padded_b(b)

    def _a4(self, a: np.ndarray) -> np.ndarray:
        """a4[c, ti, k, i] = a[ti*L + i][c*kc + k] (uint32)."""
        return self.padded_a(a).reshape(self.tile_rows, self.lanes, self.chunks,
                                        self.kc).transpose(2, 0, 3, 1).astype(np.uint32)

    def _b4(self, b: np.ndarray) -> np.ndarray:
        """b4[c, tj, k, i] = b[c*kc + k][tj*L + i] (uint32)."""
        return self.padded_b(b).reshape(self.chunks, self.kc, self.tile_cols,
                                        self.lanes).transpose(0, 2, 1, 3).astype(np.uint32)

    def a_layout(self, a: np.ndarray) -> np.ndarray:
        """The A buffer: vectors ordered (chunk, tile row, k), A in bits 0-15."""
        return np.ascontiguousarray(self._a4(a).reshape(-1, self.lanes))

    def b_layout(self, b: np.ndarray) -> np.ndarray:
        """The B buffer: vectors ordered (chunk, tile col, k), B in bits 16-31."""
        return np.ascontiguousarray((self._b4(b) << 16).reshape(-1, self.lanes))

    @property
    def a_vectors(self) -> int:
        return self.chunks * self.tile_rows * self.kc

    @property
    def b_vectors(self) -> int:
        return self.chunks * self.tile_cols * self.kc

    def a_index(self, chunk: int, ti: int) -> int:
        """Index of the first vector of tile row ``ti``, chunk ``chunk`` in :meth:`a_layout`."""
        return (chunk * self.tile_rows + ti) * self.kc

    def b_index(self, chunk: int, tj: int) -> int:
        """Index of the first vector of tile col ``tj``, chunk ``chunk`` in :meth:`b_layout`."""
        return (chunk * self.tile_cols + tj) * self.kc

    def pack(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The systolic operand vectors, ordered (chunk, tile row, tile col, k): lane i of
        vector k holds ``a[ti*L + i][c*kc + k]`` (bits 0-15) and ``b[c*kc + k][tj*L + i]``
        (bits 16-31). What a GEMM kernel's PMU holds for its tiles (rows ``(tj - tj0) * kc
        + k``); the host never writes this."""
        words = self._a4(a)[:, :, None] | (self._b4(b)[:, None] << 16)
        return np.ascontiguousarray(words.reshape(-1, self.lanes))
