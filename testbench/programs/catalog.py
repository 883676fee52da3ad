"""The hand-built kernels by name: each places its inputs in a script and returns what to check.

``KERNELS[name](script, rng)`` writes the kernel's input tensors into the
script's device memory and returns a :class:`PreparedKernel`: the program
image, the argument block, where the output lands and the golden model's
expectation for it (uint32 words).
"""

from dataclasses import dataclass

import numpy as np

from pcu_pmu.pcu.config import ReduceOp
from testbench.golden.fp_vectors import hard_bf16_pairs, hard_f32_values
from testbench.runtime.image import ProgramImage

from .gemm import gemm_arguments, gemm_golden, gemm_program, pack_tiles
from .lane_reduction import reduction_arguments, reduction_golden, reduction_program
from .row_broadcast import broadcast_arguments, broadcast_golden, broadcast_program
from .vector_add import vector_add_arguments, vector_add_golden, vector_add_program

__all__ = ["PreparedKernel", "KERNELS", "prepare"]


@dataclass(frozen=True)
class PreparedKernel:
    """One kernel ready to launch: image, arguments, output address and expected words."""

    name: str
    image: ProgramImage
    arguments: list
    out: int
    expected: np.ndarray


def vector_add(script, rng, units: int = 1, vectors: int = 6) -> PreparedKernel:
    config = script.config
    a = hard_f32_values(rng, units * vectors * config.lanes)
    b = hard_f32_values(rng, units * vectors * config.lanes)
    a_addr, b_addr, out = script.write(a), script.write(b), script.allocate(a.nbytes)
    return PreparedKernel(f"vector_add_x{units}", vector_add_program(config, vectors, units),
                          vector_add_arguments(config, a_addr, b_addr, out, vectors, units),
                          out, vector_add_golden(config, a, b, units).reshape(-1))


def gemm(script, rng, k: int = 8, tiles: int = 2) -> PreparedKernel:
    config, lanes = script.config, script.config.lanes
    a, b = hard_bf16_pairs(rng, tiles * lanes * k)
    packed = pack_tiles(a.reshape(tiles, lanes, k), b.reshape(tiles, k, lanes))
    packed_addr, out = script.write(packed), script.allocate(tiles * lanes * lanes * 4)
    return PreparedKernel("gemm", gemm_program(config, k, tiles),
                          gemm_arguments(config, packed_addr, out, k, tiles), out,
                          gemm_golden(config, packed, k, tiles).reshape(-1))


def reduction(script, rng, op: ReduceOp = ReduceOp.SUM, vectors: int = 5) -> PreparedKernel:
    config = script.config
    x = hard_f32_values(rng, vectors * config.lanes)
    x_addr, out = script.write(x), script.allocate(x.nbytes)
    return PreparedKernel(f"reduce_{op.name.lower()}", reduction_program(config, vectors, op),
                          reduction_arguments(config, x_addr, out, vectors), out,
                          reduction_golden(config, x, op).reshape(-1))


def row_broadcast(script, rng, rows: int = 3, row_beats: int = 2) -> PreparedKernel:
    """``x - s`` per row; the scalar beats carry junk in lanes 1.. that must not matter."""
    config, lanes = script.config, script.config.lanes
    x = hard_f32_values(rng, rows * row_beats * lanes)
    s_beats = rng.integers(0, 1 << 32, (rows, lanes), dtype=np.uint32)
    s_beats[:, 0] = hard_f32_values(rng, rows)
    x_addr, s_addr = script.write(x), script.write(s_beats)
    out = script.allocate(x.nbytes)
    return PreparedKernel("row_broadcast", broadcast_program(config, rows, row_beats),
                          broadcast_arguments(config, x_addr, s_addr, out, rows, row_beats),
                          out, broadcast_golden(config, x, s_beats[:, 0], row_beats).reshape(-1))


KERNELS = {
    "vector_add": vector_add,
    "gemm": gemm,
    "reduce_sum": lambda script, rng: reduction(script, rng, ReduceOp.SUM),
    "reduce_max": lambda script, rng: reduction(script, rng, ReduceOp.MAX),
    "row_broadcast": row_broadcast,
}


def prepare(name: str, script, rng) -> PreparedKernel:
    """``KERNELS[name]`` with a clear error for an unknown name."""
    if name not in KERNELS:
        raise ValueError(f"unknown kernel {name!r}; kernels: {', '.join(sorted(KERNELS))}")
    return KERNELS[name](script, rng)
