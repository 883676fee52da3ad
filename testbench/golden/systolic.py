"""Golden model of the PCU systolic body: an fp32 tile C = A @ B from bf16 A and B.

The order the hardware fixes (docs/architecture.md section 5): every ``c[i][j]`` starts
from +0.0 and adds the products ``bf16_mul_f32(a[i][k], b[k][j])`` one at a
time for k = 0 .. K-1, each addition rounded to binary32 (round-to-nearest-
even, canonical NaN), exactly as each PE's accumulator does.
"""

import numpy as np

from .numerics import bf16_mul_f32, f32_add

__all__ = ["systolic_tile", "systolic_tiles"]


def systolic_tile(a, b) -> np.ndarray:
    """C (rows x cols, uint32 binary32 bits) for A (rows x K) and B (K x cols) bf16 bits."""
    a = np.asarray(a, dtype=np.uint16)
    b = np.asarray(b, dtype=np.uint16)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"A {a.shape} and B {b.shape} are not a rows x K, K x cols pair")
    if a.shape[1] < 1:
        raise ValueError("K must be at least 1")
    c = np.zeros((a.shape[0], b.shape[1]), dtype=np.uint32)
    for k in range(a.shape[1]):
        c = f32_add(c, bf16_mul_f32(a[:, k, None], b[None, k, :]))
    return c


def systolic_tiles(tiles) -> list[np.ndarray]:
    """:func:`systolic_tile` of each (A, B) pair in ``tiles``."""
    return [systolic_tile(a, b) for a, b in tiles]
