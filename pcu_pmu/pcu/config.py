"""The PCU's typed configuration record, its byte image, and the checks it must pass.

One table, :data:`CONFIG_FIELDS`, fixes the image: 32-bit little-endian words,
fields packed from bit 0 upwards in table order. The Python record serialises
through it and the RTL decodes the same bits through :func:`config_layout`, so
the two cannot disagree.

Image (``9 + 2 * stages`` words)::

    w0  magic u8 (0x50) | version u8 (2) | lanes u8 | stages u8
    w1  mode u2 | reduce u2 | tail u4 | use_scalar u1 | emit u1 | reserved u6 | passes u16
    w2  seed u32 (the stochastic rounder's generators restart from it at every image)
    w3+2k, w4+2k   counter k (k = 0 innermost): bound u16 | stride s16, start s32
    w9+2s, w10+2s  stage s: op u5 | a u4 | b u4 | c u4 | reserved u15, imm u32

Version 2 added w2 (``seed``); version-1 images are rejected.
"""

import enum
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from amaranth.lib import data

__all__ = [
    "Mode", "StageOp", "Src", "TailOp", "ReduceOp", "Emit", "CounterConfig", "StageConfig",
    "PCUParams", "PCUConfig", "MAGIC", "VERSION", "COUNTERS", "config_words", "config_layout",
    "ACC_OPS", "BF16_OPS", "MUL_OPS", "COMPARE_OPS", "INT_OPS", "OPERANDS",
]

MAGIC = 0x50
VERSION = 2
COUNTERS = 3
MAX_BOUND = 0xFFFF


class Mode(enum.IntEnum):
    """Body the unit runs: the SIMD stage pipeline or the systolic array."""

    SIMD = 0
    SYSTOLIC = 1


class StageOp(enum.IntEnum):
    """Per-stage opcode. bf16 operands are the upper halves of the 32-bit lane values."""

    PASS = 0    # a
    FADD = 1    # a + b        (fp32)
    FSUB = 2    # a - b        (fp32)
    FMUL = 3    # a * b        (fp32)
    BMAC = 4    # acc = acc + bf16(a) * bf16(b); result acc (product exact, sum fp32 RNE)
    BMUL = 5    # bf16(a) * bf16(b) -> fp32
    FMAX = 6
    FMIN = 7
    FLT = 8     # 1 if a < b else 0
    FLE = 9
    FEQ = 10
    SEL = 11    # a if c != 0 else b
    IADD = 12
    ISUB = 13
    IMUL = 14
    ISHL = 15
    ISHR = 16
    ISRA = 17
    IAND = 18
    IOR = 19
    IXOR = 20
    FACC = 21   # acc = acc + a (fp32); result acc


class Src(enum.IntEnum):
    """Operand select of a stage."""

    PREV = 0      # this lane of the previous stage (stage 0: the input vector)
    SCALAR = 1    # the scalar input of the current innermost loop
    IMM = 2       # the stage's immediate
    CTR0 = 3      # counter values (int32): CTR0 is the innermost counter
    CTR1 = 4
    CTR2 = 5
    LANE = 6      # the lane index (int32)
    PAIR_LO = 7   # lane 2i of the previous stage (0 for i >= lanes / 2)
    PAIR_HI = 8   # lane 2i + 1 of the previous stage (0 for i >= lanes / 2)


class TailOp(enum.IntEnum):
    """Tail operation on every output value (fp32 in; the bf16 results are zero-extended).

    The transcendentals are the hdl/numerics units (algorithms and error bounds in
    hdl/numerics/TRANSCENDENTALS.md); every NaN result is the canonical NaN.
    BF16_STOCHASTIC gives lane ``l`` of the ``k``-th beat entering the tail since
    the image was loaded (emitted or not) the rounding of the xorshift32 generator
    seeded with ``lane_seed(seed, l)`` after ``k`` steps (hdl/numerics/
    fp_to_bf16_stochastic.py), so a run is reproducible from the image alone.
    """

    PASS = 0
    BF16 = 1             # fp32 -> bf16 round-to-nearest-even, zero-extended to 32 bits
    EXP = 2              # e**x
    RECIP = 3            # 1 / x
    RSQRT = 4            # 1 / sqrt(x)
    SILU = 5             # x * sigmoid(x)
    GELU = 6             # tanh-form GELU
    BF16_STOCHASTIC = 7  # fp32 -> bf16, stochastic rounding (see ``seed``), zero-extended


class ReduceOp(enum.IntEnum):
    """Cross-lane reduction run on the last log2(lanes) stages; the result leaves on scalar_out."""

    NONE = 0
    SUM = 1
    MAX = 2


class Emit(enum.IntEnum):
    """Which iterations produce output."""

    EVERY = 0        # every iteration
    INNER_LAST = 1   # only the last iteration of each innermost loop (e.g. after a BMAC)


ACC_OPS = frozenset({StageOp.BMAC, StageOp.FACC})
BF16_OPS = frozenset({StageOp.BMAC, StageOp.BMUL})
MUL_OPS = frozenset({StageOp.FMUL, StageOp.BMUL, StageOp.BMAC})
COMPARE_OPS = {StageOp.FMAX: 0, StageOp.FMIN: 1, StageOp.FLT: 2, StageOp.FLE: 3, StageOp.FEQ: 4}
INT_OPS = {StageOp.IADD: 0, StageOp.ISUB: 1, StageOp.IMUL: 2, StageOp.ISHL: 3, StageOp.ISHR: 4,
           StageOp.ISRA: 5, StageOp.IAND: 6, StageOp.IOR: 7, StageOp.IXOR: 8}
# Which operands (a, b, c) each opcode reads.
OPERANDS = {op: "ab" for op in StageOp}
OPERANDS.update({StageOp.PASS: "a", StageOp.FACC: "a", StageOp.SEL: "abc"})


def config_words(stages: int) -> int:
    """Number of 32-bit words in the image of a ``stages``-stage PCU's configuration."""
    return 9 + 2 * stages


# (name, width) in image order; signed fields are stored two's complement.
_HEADER_FIELDS = [
    ("magic", 8), ("version", 8), ("lanes", 8), ("stages", 8),
    ("mode", 2), ("reduce", 2), ("tail", 4), ("use_scalar", 1), ("emit", 1), ("rsv1", 6),
    ("passes", 16), ("seed", 32),
]
_COUNTER_FIELDS = [("bound", 16), ("stride", 16), ("start", 32)]
_STAGE_FIELDS = [("op", 5), ("a", 4), ("b", 4), ("c", 4), ("rsv", 15), ("imm", 32)]


def _flat_fields(stages: int):
    fields = list(_HEADER_FIELDS)
    for k in range(COUNTERS):
        fields += [(f"ctr{k}_{name}", width) for name, width in _COUNTER_FIELDS]
    for s in range(stages):
        fields += [(f"st{s}_{name}", width) for name, width in _STAGE_FIELDS]
    assert sum(w for _, w in fields) == 32 * config_words(stages)
    return fields


def config_layout(stages: int) -> "data.StructLayout":
    """The image as an Amaranth layout (first field at bit 0), for the RTL to decode."""
    # Imported here: the host runtime reads this module in the simulator process,
    # which has no use for Amaranth (a fifth of a second to import).
    from amaranth.lib import data

    return data.StructLayout(dict(_flat_fields(stages)))


@dataclass(frozen=True)
class PCUParams:
    """Hardware parameters of one PCU instance (fixed when the Verilog is generated)."""

    lanes: int = 16
    stages: int = 6
    vec_fifo_depth: int = 4
    scalar_fifo_depth: int = 4
    out_fifo_depth: int = 4
    systolic: bool = False  # also build a lanes x lanes systolic array (mode SYSTOLIC)
    # Tail operations built into the tail (PASS always is); fewer units, fewer LUTs.
    tail_ops: tuple = tuple(TailOp)

    def __post_init__(self):
        try:
            ops = tuple(sorted({TailOp[op] if isinstance(op, str) else TailOp(op)
                                for op in self.tail_ops} | {TailOp.PASS}))
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"tail_ops must be TailOp values or names, not {self.tail_ops!r}"
                             ) from None
        object.__setattr__(self, "tail_ops", ops)
        if not (1 <= self.lanes <= 64 and self.lanes & (self.lanes - 1) == 0):
            raise ValueError(f"lanes must be a power of two from 1 to 64, not {self.lanes}")
        if not 1 <= self.stages <= 16:
            raise ValueError(f"stages must be from 1 to 16, not {self.stages}")
        for name in ("vec_fifo_depth", "scalar_fifo_depth", "out_fifo_depth"):
            depth = getattr(self, name)
            if not 2 <= depth <= 256:
                raise ValueError(f"{name} must be from 2 to 256, not {depth}")

    @property
    def reduce_levels(self) -> int:
        """Tree levels of a full cross-lane reduction: log2(lanes)."""
        return self.lanes.bit_length() - 1


@dataclass(frozen=True)
class CounterConfig:
    """One counter: ``bound`` iterations, value ``start + index * stride`` (int32, wrapping)."""

    bound: int = 1
    stride: int = 1
    start: int = 0


@dataclass(frozen=True)
class StageConfig:
    """One SIMD stage: opcode, operand selects a/b/c and a 32-bit immediate."""

    op: StageOp = StageOp.PASS
    a: Src = Src.PREV
    b: Src = Src.PREV
    c: Src = Src.PREV
    imm: int = 0


def _default_counters():
    return (CounterConfig(), CounterConfig(), CounterConfig())


@dataclass(frozen=True)
class PCUConfig:
    """Everything one PCU run needs. ``counters[0]`` is the innermost loop.

    A pass issues one iteration per point of the counter space (one vector in,
    one scalar per innermost loop when ``use_scalar``); ``passes`` passes run,
    each ending with a done token. In SYSTOLIC mode ``counters[0].bound`` is k_len.
    """

    lanes: int
    stages: int
    stage: tuple = ()
    counters: tuple = field(default_factory=_default_counters)
    mode: Mode = Mode.SIMD
    reduce: ReduceOp = ReduceOp.NONE
    tail: TailOp = TailOp.PASS
    use_scalar: bool = False
    emit: Emit = Emit.EVERY
    passes: int = 1
    seed: int = 0  # stochastic rounding (TailOp.BF16_STOCHASTIC); carried by every image

    def __post_init__(self):
        if not self.stage:
            object.__setattr__(self, "stage", tuple(StageConfig() for _ in range(self.stages)))

    # -- derived quantities -------------------------------------------------------------
    @property
    def iterations(self) -> int:
        """Iterations in one pass (product of the counter bounds)."""
        total = 1
        for counter in self.counters:
            total *= counter.bound
        return total

    @property
    def scalars_per_pass(self) -> int:
        return self.iterations // self.counters[0].bound if self.use_scalar else 0

    @property
    def outputs_per_pass(self) -> int:
        if self.mode == Mode.SYSTOLIC:
            return self.lanes * (self.iterations // self.counters[0].bound)
        if self.emit == Emit.EVERY:
            return self.iterations
        return self.iterations // self.counters[0].bound

    def tree_stages(self) -> range:
        """Stages that carry the reduction tree (empty without a reduction)."""
        if self.reduce == ReduceOp.NONE:
            return range(0)
        levels = self.lanes.bit_length() - 1
        return range(self.stages - levels, self.stages)

    # -- checks -------------------------------------------------------------------------
    def validate(self, params: PCUParams) -> "PCUConfig":
        """Raise ValueError naming the first field this PCU cannot execute; return self."""
        def fail(name, why):
            raise ValueError(f"PCU config field {name}: {why}")

        if self.lanes != params.lanes:
            fail("lanes", f"{self.lanes} but this PCU has {params.lanes} lanes")
        if self.stages != params.stages:
            fail("stages", f"{self.stages} but this PCU has {params.stages} stages")
        if len(self.stage) != self.stages:
            fail("stage", f"{len(self.stage)} stage records for {self.stages} stages")
        if len(self.counters) != COUNTERS:
            fail("counters", f"needs exactly {COUNTERS} counters, not {len(self.counters)}")
        for enum_type, name in ((Mode, "mode"), (ReduceOp, "reduce"), (TailOp, "tail"),
                                (Emit, "emit")):
            try:
                enum_type(getattr(self, name))
            except ValueError:
                fail(name, f"{getattr(self, name)!r} is not a {enum_type.__name__}")
        if not 1 <= self.passes <= 0xFFFF:
            fail("passes", f"must be from 1 to 65535, not {self.passes}")
        if not 0 <= self.seed < (1 << 32):
            fail("seed", f"must be a 32-bit unsigned value, not {self.seed}")
        for k, counter in enumerate(self.counters):
            if not 1 <= counter.bound <= MAX_BOUND:
                fail(f"counters[{k}].bound", f"must be from 1 to {MAX_BOUND}, not {counter.bound}")
            if not -(1 << 15) <= counter.stride < (1 << 15):
                fail(f"counters[{k}].stride", f"must fit int16, not {counter.stride}")
            if not -(1 << 31) <= counter.start < (1 << 31):
                fail(f"counters[{k}].start", f"must fit int32, not {counter.start}")
        available = [op for op in _available_tail_ops() if op in params.tail_ops]
        if self.tail not in available:
            fail("tail", f"{TailOp(self.tail).name} has no tail unit in this PCU (available: "
                         f"{', '.join(op.name for op in available)})")
        if self.mode == Mode.SYSTOLIC:
            self._validate_systolic(params, fail)
            return self
        levels = params.reduce_levels
        if self.reduce != ReduceOp.NONE:
            if self.stages < levels + 1:
                fail("reduce", f"{ReduceOp(self.reduce).name} over {self.lanes} lanes needs "
                               f"log2(lanes)+1 = {levels + 1} stages; this PCU has {self.stages}")
        tree = self.tree_stages()
        for s, st in enumerate(self.stage):
            try:
                op = StageOp(st.op)
            except ValueError:
                fail(f"stage[{s}].op", f"{st.op!r} is not a StageOp")
            if s in tree and op != StageOp.PASS:
                fail(f"stage[{s}].op", f"stages {tree.start}..{tree.stop - 1} carry the "
                                       f"{ReduceOp(self.reduce).name} reduction tree and must "
                                       f"be PASS, not {op.name}")
            for operand in "abc":
                value = getattr(st, operand)
                try:
                    src = Src(value)
                except ValueError:
                    fail(f"stage[{s}].{operand}", f"{value!r} is not a Src")
                if operand in OPERANDS[op] and src == Src.SCALAR and not self.use_scalar:
                    fail(f"stage[{s}].{operand}", "selects SCALAR but use_scalar is off")
            if not 0 <= st.imm < (1 << 32):
                fail(f"stage[{s}].imm", f"must be a 32-bit pattern, not {st.imm}")
        return self

    def _validate_systolic(self, params, fail):
        if not params.systolic:
            fail("mode", "SYSTOLIC needs a PCU built with the systolic array "
                         "(PCUParams.systolic / make_pcu(systolic=True)); this one has none")
        if self.reduce != ReduceOp.NONE:
            fail("reduce", "a reduction needs mode SIMD")
        if self.tail != TailOp.PASS:
            fail("tail", "mode SYSTOLIC sends the array's fp32 rows out unchanged; tail must be "
                         "PASS")
        if self.use_scalar:
            fail("use_scalar", "mode SYSTOLIC takes no scalars")
        if self.emit != Emit.EVERY:
            fail("emit", "mode SYSTOLIC emits every row of every tile; emit must be EVERY")
        for s, st in enumerate(self.stage):
            if st.op != StageOp.PASS:
                fail(f"stage[{s}].op", f"mode SYSTOLIC does not run SIMD stages; must be PASS, "
                                       f"not {StageOp(st.op).name}")

    # -- byte image ---------------------------------------------------------------------
    def _field_values(self) -> dict:
        values = {"magic": MAGIC, "version": VERSION, "lanes": self.lanes, "stages": self.stages,
                  "mode": int(self.mode), "reduce": int(self.reduce), "tail": int(self.tail),
                  "use_scalar": int(bool(self.use_scalar)), "emit": int(self.emit),
                  "passes": self.passes, "seed": self.seed}
        for k, counter in enumerate(self.counters):
            values.update({f"ctr{k}_bound": counter.bound, f"ctr{k}_stride": counter.stride,
                           f"ctr{k}_start": counter.start})
        for s, st in enumerate(self.stage):
            values.update({f"st{s}_op": int(st.op), f"st{s}_a": int(st.a), f"st{s}_b": int(st.b),
                           f"st{s}_c": int(st.c), f"st{s}_imm": st.imm})
        return values

    def to_bytes(self) -> bytes:
        """The little-endian image the configuration port takes (see the module docstring)."""
        values = self._field_values()
        image, offset = 0, 0
        for name, width in _flat_fields(self.stages):
            value = values.get(name, 0)
            if not -(1 << (width - 1)) <= value < (1 << width):
                raise ValueError(f"PCU config field {name}: {value} does not fit {width} bits")
            image |= (value & ((1 << width) - 1)) << offset
            offset += width
        return image.to_bytes(offset // 8, "little")

    def to_words(self) -> list[int]:
        """The image as the 32-bit words written to the configuration port, in order."""
        raw = self.to_bytes()
        return [int.from_bytes(raw[i:i + 4], "little") for i in range(0, len(raw), 4)]

    @classmethod
    def from_bytes(cls, raw: bytes) -> "PCUConfig":
        """Decode an image made by :meth:`to_bytes`."""
        if len(raw) < 8 or len(raw) % 4:
            raise ValueError(f"PCU config image of {len(raw)} bytes: too short or not whole words")
        head = int.from_bytes(raw[:4], "little")
        magic, version, stages = head & 0xFF, (head >> 8) & 0xFF, head >> 24
        if magic != MAGIC or version != VERSION:
            raise ValueError(f"PCU config field magic/version: {magic:#x}/{version} is not a "
                             f"version-{VERSION} PCU image")
        if len(raw) != 4 * config_words(stages):
            raise ValueError(f"PCU config image: {len(raw)} bytes, a {stages}-stage image has "
                             f"{4 * config_words(stages)}")
        image, offset, values = int.from_bytes(raw, "little"), 0, {}
        for name, width in _flat_fields(stages):
            value = (image >> offset) & ((1 << width) - 1)
            if name.endswith(("_stride", "_start")) and value >> (width - 1):
                value -= 1 << width
            values[name] = value
            offset += width
        counters = tuple(CounterConfig(values[f"ctr{k}_bound"], values[f"ctr{k}_stride"],
                                       values[f"ctr{k}_start"]) for k in range(COUNTERS))
        stage = tuple(StageConfig(_enum_or_int(StageOp, values[f"st{s}_op"]),
                                  *(_enum_or_int(Src, values[f"st{s}_{o}"]) for o in "abc"),
                                  values[f"st{s}_imm"]) for s in range(stages))
        return cls(lanes=values["lanes"], stages=stages, stage=stage, counters=counters,
                   mode=_enum_or_int(Mode, values["mode"]),
                   reduce=_enum_or_int(ReduceOp, values["reduce"]),
                   tail=_enum_or_int(TailOp, values["tail"]), use_scalar=bool(values["use_scalar"]),
                   emit=_enum_or_int(Emit, values["emit"]), passes=values["passes"],
                   seed=values["seed"])

    def with_stage(self, index: int, **changes) -> "PCUConfig":
        """A copy with stage ``index`` changed."""
        stage = list(self.stage)
        stage[index] = replace(stage[index], **changes)
        return replace(self, stage=tuple(stage))


def _enum_or_int(enum_type, value):
    try:
        return enum_type(value)
    except ValueError:
        return value


def _available_tail_ops():
    from .tail import TAIL_UNITS

    return tuple(TAIL_UNITS)
