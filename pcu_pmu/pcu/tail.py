"""The PCU tail: one per-lane operation on every output value, then the output FIFOs.

:data:`TAIL_UNITS` is where tail operations plug in: a :class:`TailOp` maps to
a valid/ready unit taking one fp32 (``unsigned(32)``) per beat; narrower outputs
(the bf16 conversions) are zero-extended to 32 bits. Every lane has one copy of
every unit: nearest-even and stochastic bf16 conversion, e**x, 1/x, 1/sqrt(x),
SiLU and GELU (hdl/numerics; algorithms in hdl/numerics/TRANSCENDENTALS.md). All
of them run in step with the pipeline and the tail is padded to the longest
unit's latency, so it has one fixed latency, :data:`TAIL_LATENCY`. With a
:class:`~.shared_modules.SharedModules` registry each unit's Verilog is emitted
once and instantiated per lane.

A unit moves only while ``op`` selects it (its ``o.ready`` is ``advance`` and
the selection); the others hold still, full since reset, so a simulator skips
most of their datapath, and as ``op`` changes only with the tail empty the
selected unit is in step again from its first beat.

The stochastic rounder of lane ``l`` restarts its xorshift32 generator from
``lane_seed(seed, l)`` when ``load_seed`` is high and steps once per valid beat
(not per advance: bubbles depend on stalls, and a run must be reproducible from
the configuration image alone).
"""

from collections import defaultdict

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hdl.numerics.fp_exp import FP32Exp
from hdl.numerics.fp_gelu import FP32GELU
from hdl.numerics.fp_reciprocal import FP32Reciprocal
from hdl.numerics.fp_rsqrt import FP32Rsqrt
from hdl.numerics.fp_silu import FP32SiLU
from hdl.numerics.fp_to_bf16 import FP32ToBF16
from hdl.numerics.fp_to_bf16_stochastic import FP32ToBF16Stochastic

from .beat import BeatSignature
from .config import TailOp
from .pipe import delay_taps, delayed, run_in_step

__all__ = ["TAIL_UNITS", "TAIL_LATENCY", "LANE_SEED_STRIDE", "Tail"]

# TailOp -> unit class with `i`/`o` streams and a class attribute `latency`. PASS needs
# no unit. BF16_STOCHASTIC is built one lane per unit (FP32ToBF16Stochastic(lanes=1)).
TAIL_UNITS = {
    TailOp.PASS: None,
    TailOp.BF16: FP32ToBF16,
    TailOp.EXP: FP32Exp,
    TailOp.RECIP: FP32Reciprocal,
    TailOp.RSQRT: FP32Rsqrt,
    TailOp.SILU: FP32SiLU,
    TailOp.GELU: FP32GELU,
    TailOp.BF16_STOCHASTIC: FP32ToBF16Stochastic,
}

TAIL_LATENCY = max([1] + [factory.latency for factory in TAIL_UNITS.values() if factory])

# lane_seed(seed, lane) hashes seed + lane * LANE_SEED_STRIDE, so a one-lane rounder
# loaded with seed + lane * LANE_SEED_STRIDE starts exactly where lane `lane` of a
# multi-lane rounder loaded with `seed` starts (tests/test_pcu_tail.py checks this).
LANE_SEED_STRIDE = 0x9E3779B9


def _one_lane_stochastic_rounder():
    return FP32ToBF16Stochastic(lanes=1)


class Tail(wiring.Component):
    """``lanes`` lanes of the tail operation selected by ``op``, TAIL_LATENCY advances deep.

    Only the units of ``ops`` (TailOps; default all) are built; an ``op`` without a
    unit passes values through (``PCUConfig.validate`` rejects such images). The
    latency stays TAIL_LATENCY whatever is built, so the PCU's timing does not change.

    ``op`` must not change while beats are inside the tail (the PCU takes a new
    image only when its pipeline is empty). ``load_seed`` (one cycle, no beat
    inside) reseeds the stochastic rounders from ``seed``.
    """

    def __init__(self, lanes: int, shared=None, ops=tuple(TailOp)):
        if lanes < 1:
            raise ValueError(f"lanes must be at least 1, not {lanes}")
        self._lanes = lanes
        self._ops = frozenset(TailOp(op) for op in ops)
        self._shared = shared
        super().__init__({
            "advance": In(1), "op": In(4), "seed": In(32), "load_seed": In(1),
            "i": In(BeatSignature(lanes)), "o": Out(BeatSignature(lanes)),
            "busy": Out(1),
        })

    @property
    def lanes(self) -> int:
        return self._lanes

    def elaborate(self, platform):
        m = Module()
        adv = self.advance
        valid = delay_taps(m, adv, self.i.valid, TAIL_LATENCY, "valid")
        m.d.comb += [
            self.o.valid.eq(valid[-1]),
            self.o.meta.eq(delayed(m, adv, self.i.meta, TAIL_LATENCY, "meta")),
            self.busy.eq(Cat(*valid[1:]).any()),
        ]
        # Idle units hold still so Verilator skips their enable-gated next-state logic.
        selected = {op: adv & (self.op == op) for op in self._ops}
        for lane in range(self._lanes):
            x = self.i.data[lane]
            joins = defaultdict(list)  # latency -> [(op, unit output)]
            for tail_op, factory in TAIL_UNITS.items():
                if factory is None or tail_op not in self._ops:
                    continue
                if tail_op == TailOp.BF16_STOCHASTIC:
                    out = self._stochastic_rounder(m, lane, x)
                else:
                    name = f"tail_{tail_op.name.lower()}"
                    shared = (self._shared, f"pcu_{name}") if self._shared is not None else ()
                    out = run_in_step(m, f"{name}{lane}", factory, selected[tail_op], x,
                                      *shared)
                joins[factory.latency].append((tail_op, out))
            m.d.comb += self.o.data[lane].eq(self._delay_line(m, lane, x, joins))
        return m

    def _delay_line(self, m, lane: int, x, joins):
        """One TAIL_LATENCY-deep line per lane instead of one padding line per unit.

        The line starts with ``x`` (PASS); a unit of latency L joins at depth L
        when ``op`` selects it, so the line's end holds that unit's result of the
        value that entered TAIL_LATENCY advances ago.
        """
        value = x
        for depth in range(1, TAIL_LATENCY + 1):
            reg = Signal(32, name=f"line{lane}_d{depth}", reset_less=True)
            with m.If(self.advance):
                m.d.sync += reg.eq(value)
            value = reg
            if joins.get(depth):
                joined = Signal(32, name=f"line{lane}_j{depth}")
                m.d.comb += joined.eq(reg)
                with m.Switch(self.op):
                    for tail_op, out in joins[depth]:
                        with m.Case(tail_op):
                            m.d.comb += joined.eq(out)
                value = joined
        return value

    def _stochastic_rounder(self, m, lane: int, x):
        """Lane ``lane``'s rounder; its generator steps only on valid beats.

        Its input is valid only when a valid beat advances, so it accepts (and
        steps) exactly then. Its one output register then moves on every
        advance; between advances it may refill only while it holds a bubble,
        which changes nothing that leaves the tail.
        """
        assert FP32ToBF16Stochastic.latency == 1, "the argument above needs one stage"
        unit = _one_lane_stochastic_rounder()
        name = f"tail_bf16_stochastic{lane}"
        if self._shared is None:
            m.submodules[name] = unit
        else:
            self._shared.instantiate(m, name, "pcu_tail_bf16_stochastic", unit,
                                     _one_lane_stochastic_rounder)
        m.d.comb += [
            unit.i.valid.eq(self.i.valid & self.advance), unit.o.ready.eq(self.advance),
            unit.i.payload.eq(x),
            unit.seed.eq((self.seed + (lane * LANE_SEED_STRIDE & 0xFFFFFFFF))[0:32]),
            unit.load_seed.eq(self.load_seed),
        ]
        return unit.o.payload
