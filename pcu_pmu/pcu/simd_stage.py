"""One stage of the PCU's SIMD body: operand selects, an opcode, per-lane accumulators."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hdl.numerics.formats import FP32
from hdl.numerics.fp_add import FP32Adder
from hdl.numerics.fp_compare import FP32Compare
from hdl.numerics.fp_mul import FPMultiplier
from hdl.numerics.int_alu import Int32ALU

from .beat import BeatSignature
from .config import ACC_OPS, BF16_OPS, COMPARE_OPS, COUNTERS, INT_OPS, MUL_OPS, Src, StageOp
from .pipe import delay_taps, delayed, run_in_step

__all__ = ["SIMDStage", "PHASE_A", "PHASE_B", "STAGE_LATENCY", "ACC_II"]

# Phase A: multiplier, compare, int ALU and the direct path side by side, all padded
# to the multiplier's latency. Phase B: the adder (add, sub, accumulate).
PHASE_A = max(FPMultiplier.latency, FP32Compare.latency, Int32ALU.latency)
PHASE_B = FP32Adder.latency
STAGE_LATENCY = PHASE_A + PHASE_B
# An accumulating beat reads its accumulator entering phase B and writes it PHASE_B
# advances later (forwarded in the same cycle), so accumulating configurations issue at
# most one beat every ACC_II advances.
ACC_II = PHASE_B
NEG_ZERO = 0x80000000  # additive identity of fp32 addition (+0 would turn -0 into +0)


class SIMDStage(wiring.Component):
    """``lanes`` lanes of one SIMD stage, ``STAGE_LATENCY`` advances deep.

    Operands ``a``, ``b``, ``c`` of each lane come from :class:`Src` selects;
    ``op`` is a :class:`StageOp`. The configuration inputs must hold still while
    beats are inside. ``busy`` is high while any beat is inside.
    """

    def __init__(self, lanes: int, shared=None):
        if lanes < 1:
            raise ValueError(f"lanes must be at least 1, not {lanes}")
        self._lanes = lanes
        self._shared = shared
        super().__init__({
            "advance": In(1),
            "op": In(5), "sel_a": In(4), "sel_b": In(4), "sel_c": In(4), "imm": In(32),
            "i": In(BeatSignature(lanes)), "o": Out(BeatSignature(lanes)),
            "busy": Out(1),
        })

    @property
    def lanes(self) -> int:
        return self._lanes

    def _select(self, m, sel, lane: int, name: str):
        lanes, prev, meta = self._lanes, self.i.data, self.i.meta
        value = Signal(32, name=name)
        pair_lo = prev[2 * lane] if 2 * lane + 1 < lanes else Const(0, 32)
        pair_hi = prev[2 * lane + 1] if 2 * lane + 1 < lanes else Const(0, 32)
        with m.Switch(sel):
            with m.Case(Src.PREV):
                m.d.comb += value.eq(prev[lane])
            with m.Case(Src.SCALAR):
                m.d.comb += value.eq(meta.scalar)
            with m.Case(Src.IMM):
                m.d.comb += value.eq(self.imm)
            for k in range(COUNTERS):
                with m.Case(Src.CTR0 + k):
                    m.d.comb += value.eq(meta.ctr[k])
            with m.Case(Src.LANE):
                m.d.comb += value.eq(lane)
            with m.Case(Src.PAIR_LO):
                m.d.comb += value.eq(pair_lo)
            with m.Case(Src.PAIR_HI):
                m.d.comb += value.eq(pair_hi)
        return value

    def elaborate(self, platform):
        m = Module()
        adv = self.advance

        # Static decode of the opcode.
        is_bf16, uses_mul, is_acc = Signal(), Signal(), Signal()
        is_add, is_sub, is_cmp, is_int, is_sel = Signal(), Signal(), Signal(), Signal(), Signal()
        cmp_op, int_op = Signal(3), Signal(4)
        op = self.op
        m.d.comb += [
            is_bf16.eq(_member(op, BF16_OPS)), uses_mul.eq(_member(op, MUL_OPS)),
            is_acc.eq(_member(op, ACC_OPS)),
            is_add.eq(_member(op, {StageOp.FADD, StageOp.FSUB} | ACC_OPS)),
            is_sub.eq(op == StageOp.FSUB), is_cmp.eq(_member(op, COMPARE_OPS)),
            is_int.eq(_member(op, INT_OPS)), is_sel.eq(op == StageOp.SEL),
        ]
        with m.Switch(op):
            for stage_op, code in COMPARE_OPS.items():
                with m.Case(stage_op):
                    m.d.comb += cmp_op.eq(code)
            for stage_op, code in INT_OPS.items():
                with m.Case(stage_op):
                    m.d.comb += int_op.eq(code)

        # Beat valid and sideband: STAGE_LATENCY advances deep.
        valid = delay_taps(m, adv, self.i.valid, STAGE_LATENCY, "valid")
        meta = delay_taps(m, adv, self.i.meta, STAGE_LATENCY, "meta")
        m.d.comb += [self.o.valid.eq(valid[-1]), self.o.meta.eq(meta[-1]),
                     self.busy.eq(Cat(*valid[1:]).any())]
        first_at_b = meta[PHASE_A].first
        acc_writeback = valid[-1] & is_acc

        bf16_mask = Mux(is_bf16, 0xFFFF0000, 0xFFFFFFFF)

        def sh(unit):  # shared-module arguments of run_in_step
            return (self._shared, f"pcu_{unit}") if self._shared is not None else ()

        for lane in range(self._lanes):
            a = self._select(m, self.sel_a, lane, f"a{lane}")
            b = self._select(m, self.sel_b, lane, f"b{lane}")
            c = self._select(m, self.sel_c, lane, f"c{lane}")
            # Phase A.
            product = run_in_step(m, f"mul{lane}", _fp32_mul, adv,
                                  {"a": a & bf16_mask, "b": b & bf16_mask}, *sh("fp32_mul"))
            compared = run_in_step(m, f"cmp{lane}", FP32Compare, adv,
                                   {"a": a, "b": b, "op": cmp_op}, *sh("fp32_compare"))
            integer = run_in_step(m, f"int{lane}", Int32ALU, adv,
                                  {"a": a, "b": b, "op": int_op}, *sh("int32_alu"))
            direct = Mux(is_sel, Mux(c.any(), a, b), a)
            x = Signal(32, name=f"x{lane}")
            m.d.comb += x.eq(Mux(uses_mul, product,
                             Mux(is_cmp, delayed(m, adv, compared,
                                                 PHASE_A - FP32Compare.latency, f"cmp{lane}"),
                             Mux(is_int, delayed(m, adv, integer,
                                                 PHASE_A - Int32ALU.latency, f"int{lane}"),
                                 delayed(m, adv, direct, PHASE_A, f"direct{lane}")))))
            b_at_b = delayed(m, adv, b, PHASE_A, f"b{lane}")
            # Phase B: the adder, fed the accumulator (forwarded from the beat leaving
            # the stage if that one writes it) or the operands of an add / sub.
            acc = Signal(32, name=f"acc{lane}")
            summed = Signal(32, name=f"sum{lane}")
            acc_now = Mux(acc_writeback, summed, acc)
            acc_in = Mux(first_at_b, NEG_ZERO, acc_now)
            m.d.comb += summed.eq(run_in_step(m, f"add{lane}", FP32Adder, adv, {
                "a": Mux(is_acc, acc_in, x), "b": Mux(is_acc, x, b_at_b), "sub": is_sub},
                *sh("fp32_add")))
            with m.If(adv & acc_writeback):
                m.d.sync += acc.eq(summed)
            m.d.comb += self.o.data[lane].eq(
                Mux(is_add, summed, delayed(m, adv, x, PHASE_B, f"x{lane}")))
        return m


def _fp32_mul():
    return FPMultiplier(FP32)


def _member(value, ops) -> object:
    """1 when ``value`` is one of ``ops`` (a static opcode decode)."""
    return Cat(*(value == int(op) for op in ops)).any()
