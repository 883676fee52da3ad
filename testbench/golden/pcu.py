"""Transaction-level golden model of the PCU (SIMD mode).

``run_program(params, program)`` takes a list of ``(PCUConfig, vectors, scalars)``
jobs, run one after the other as the RTL runs configurations written one after
another, and returns exactly the streams the unit produces: ``vec_out`` beats
(lanes x uint32), ``scalar_out`` values and ``done`` tokens. Every arithmetic
operation is a function of :mod:`testbench.golden.numerics` (the tail's
transcendentals and stochastic rounding: :mod:`testbench.golden.transcendentals`,
see :func:`apply_tail`), and every order the
hardware fixes (accumulation over the innermost loop, the pairwise reduction
tree of :mod:`pcu_pmu.pcu.reduction_tree`) is reproduced step by step.
"""

from dataclasses import dataclass, field

import numpy as np

from pcu_pmu.pcu.config import (
    ACC_OPS,
    COUNTERS,
    Emit,
    Mode,
    PCUConfig,
    PCUParams,
    ReduceOp,
    Src,
    StageOp,
    TailOp,
)

from . import numerics as g
from . import transcendentals as tr
from .systolic import systolic_tile

__all__ = ["PCUOutputs", "run_program", "iteration_space", "reduce_lanes", "apply_tail"]

NEG_ZERO = np.uint32(0x80000000)


@dataclass
class PCUOutputs:
    """The unit's output streams, in order."""

    vec_out: list = field(default_factory=list)     # uint32 arrays of `lanes`
    scalar_out: list = field(default_factory=list)  # ints
    done: list = field(default_factory=list)        # ints (token counter, 16 bits)


def iteration_space(config: PCUConfig):
    """Yield (values, first, last_inner, last) per iteration; counter 0 innermost."""
    bounds = [c.bound for c in config.counters]
    idx = [0] * COUNTERS
    for _ in range(config.iterations):
        values = [(c.start + i * c.stride) & 0xFFFFFFFF
                  for c, i in zip(config.counters, idx, strict=True)]
        last = all(i == b - 1 for i, b in zip(idx, bounds, strict=True))
        yield values, idx[0] == 0, idx[0] == bounds[0] - 1, last
        for k in range(COUNTERS):
            idx[k] += 1
            if idx[k] < bounds[k]:
                break
            idx[k] = 0


def _bf16(x):
    return (np.asarray(x, dtype=np.uint32) >> 16).astype(np.uint16)


_BINARY = {
    StageOp.FADD: g.f32_add, StageOp.FSUB: g.f32_sub, StageOp.FMUL: g.f32_mul,
    StageOp.BMUL: lambda a, b: g.bf16_mul_f32(_bf16(a), _bf16(b)),
    StageOp.FMAX: g.f32_max, StageOp.FMIN: g.f32_min,
    StageOp.FLT: g.f32_lt, StageOp.FLE: g.f32_le, StageOp.FEQ: g.f32_eq,
    **{getattr(StageOp, "I" + name.upper()): (lambda n: lambda a, b: g.int_op(n, a, b))(name)
       for name in ("add", "sub", "mul", "shl", "shr", "sra", "and", "or", "xor")},
}


# Tail operations other than PASS and BF16_STOCHASTIC: elementwise on uint32 arrays.
_TAIL = {
    TailOp.BF16: g.f32_to_bf16, TailOp.EXP: tr.f32_exp, TailOp.RECIP: tr.f32_recip,
    TailOp.RSQRT: tr.f32_rsqrt, TailOp.SILU: tr.f32_silu, TailOp.GELU: tr.f32_gelu,
}


def reduce_lanes(values: np.ndarray, op: ReduceOp) -> int:
    """Lane 0 after the pairwise tree: level by level, op(lane 2i, lane 2i+1)."""
    fn = g.f32_add if op == ReduceOp.SUM else g.f32_max
    v = np.asarray(values, dtype=np.uint32)
    while len(v) > 1:
        v = fn(v[0::2], v[1::2]).astype(np.uint32)
    return int(v[0])


class _Unit:
    def __init__(self, params: PCUParams):
        self.p = params
        self.acc = np.zeros((params.stages, params.lanes), dtype=np.uint32)
        self.lane_index = np.arange(params.lanes, dtype=np.uint32)
        self.tokens = 0

    def _operand(self, src, prev, scalar, imm, ctr):
        lanes = self.p.lanes
        full = np.full(lanes, 0, dtype=np.uint32)
        if src == Src.PREV:
            return prev
        if src == Src.SCALAR:
            return full + np.uint32(scalar)
        if src == Src.IMM:
            return full + np.uint32(imm)
        if src in (Src.CTR0, Src.CTR1, Src.CTR2):
            return full + np.uint32(ctr[src - Src.CTR0])
        if src == Src.LANE:
            return self.lane_index.copy()
        half = lanes // 2
        out = full.copy()
        out[:half] = prev[0:2 * half:2] if src == Src.PAIR_LO else prev[1:2 * half:2]
        return out

    def beat(self, config: PCUConfig, vector, scalar, ctr, first) -> np.ndarray:
        prev = np.asarray(vector, dtype=np.uint32)
        tree = config.tree_stages()
        for s, st in enumerate(config.stage):
            op, sa, sb, sc = StageOp(st.op), Src(st.a), Src(st.b), Src(st.c)
            if s in tree:
                op = StageOp.FMAX if config.reduce == ReduceOp.MAX else StageOp.FADD
                sa, sb = Src.PAIR_LO, Src.PAIR_HI
            a = self._operand(sa, prev, scalar, st.imm, ctr)
            b = self._operand(sb, prev, scalar, st.imm, ctr)
            if op == StageOp.PASS:
                out = a
            elif op == StageOp.SEL:
                c = self._operand(sc, prev, scalar, st.imm, ctr)
                out = np.where(c != 0, a, b).astype(np.uint32)
            elif op in ACC_OPS:
                x = a if op == StageOp.FACC else _BINARY[StageOp.BMUL](a, b)
                acc_in = np.full(self.p.lanes, NEG_ZERO) if first else self.acc[s]
                out = g.f32_add(acc_in, x)
                self.acc[s] = out
            else:
                out = _BINARY[op](a, b)
            prev = np.asarray(out, dtype=np.uint32)
        return prev


def apply_tail(config: PCUConfig, beats) -> np.ndarray:
    """The tail operation on all ``beats`` (n x lanes uint32) entering the tail for one image.

    BF16_STOCHASTIC is the ``lanes``-lane rounder seeded with ``config.seed``
    stepping once per beat: the hardware restarts it with every image and steps
    it on every beat, emitted or not. bf16 results are zero-extended.
    """
    beats = np.asarray(beats, dtype=np.uint32)
    op = TailOp(config.tail)
    if op == TailOp.PASS:
        return beats
    if op == TailOp.BF16_STOCHASTIC:
        lanes = beats.shape[1]
        flat = tr.f32_to_bf16_stochastic(beats.reshape(-1), lanes, config.seed)
        return flat.reshape(beats.shape).astype(np.uint32)
    return np.asarray(_TAIL[op](beats), dtype=np.uint32)


def run_program(params: PCUParams, program) -> PCUOutputs:
    """Run ``[(config, vectors (n x lanes uint32), scalars (m uint32)), ...]`` in order.

    Each job must bring exactly ``passes * iterations`` vectors and
    ``passes * scalars_per_pass`` scalars.
    """
    unit, out = _Unit(params), PCUOutputs()
    for config, vectors, scalars in program:
        config.validate(params)
        vectors = np.asarray(vectors, dtype=np.uint32).reshape(-1, params.lanes)
        scalars = np.asarray(scalars, dtype=np.uint32).reshape(-1)
        if len(vectors) != config.passes * config.iterations:
            raise ValueError(f"job needs {config.passes * config.iterations} vectors, "
                             f"got {len(vectors)}")
        if len(scalars) != config.passes * config.scalars_per_pass:
            raise ValueError(f"job needs {config.passes * config.scalars_per_pass} scalars, "
                             f"got {len(scalars)}")
        if config.mode == Mode.SYSTOLIC:
            _run_systolic(unit, config, vectors, out)
            continue
        vi = si = 0
        scalar = 0
        body, steps = [], []  # the body's result and (emit, last) of every beat
        for _ in range(config.passes):
            for ctr, first, last_inner, last in iteration_space(config):
                if config.use_scalar and first:
                    scalar = int(scalars[si])
                    si += 1
                body.append(unit.beat(config, vectors[vi], scalar, ctr, first))
                vi += 1
                steps.append((config.emit == Emit.EVERY or last_inner, last))
        for result, (emit, last) in zip(apply_tail(config, body), steps, strict=True):
            if emit:
                if config.reduce != ReduceOp.NONE:
                    out.scalar_out.append(int(result[0]))
                else:
                    out.vec_out.append(result)
            if last:
                out.done.append(unit.tokens & 0xFFFF)
                unit.tokens += 1
    return out


def _run_systolic(unit: _Unit, config: PCUConfig, vectors, out: PCUOutputs) -> None:
    """SYSTOLIC mode: each run of counter 0 (k_len vectors) is one tile C = A @ B.

    Lane i of vector k holds a[i][k] (bf16) in bits 0-15 and b[k][i] in bits 16-31;
    the tile's rows leave on vec_out, row 0 first; a done token ends each pass.
    """
    k_len = config.counters[0].bound
    tiles = config.iterations // k_len
    for p in range(config.passes):
        for t in range(tiles):
            start = (p * tiles + t) * k_len
            block = vectors[start:start + k_len]            # k_len x lanes
            a = (block & 0xFFFF).astype(np.uint16).T        # lanes x K
            b = (block >> 16).astype(np.uint16)             # K x lanes
            out.vec_out.extend(np.asarray(systolic_tile(a, b), dtype=np.uint32))
        out.done.append(unit.tokens & 0xFFFF)
        unit.tokens += 1
