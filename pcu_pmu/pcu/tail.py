"""The PCU tail: one per-lane operation on every output value, then the output FIFOs.

:data:`TAIL_UNITS` is where tail operations plug in: a :class:`TailOp` maps to
a factory of a valid/ready unit taking one fp32 (``unsigned(32)``) per beat and
its output width; narrower outputs are zero-extended to 32 bits. Every unit runs
in step with the pipeline and is padded to the longest unit's latency, so the
tail has one fixed latency. The transcendental units (EXP, RECIP, RSQRT, SILU)
go here when hdl/numerics has them; until then the configuration check rejects
those ops.
"""

from amaranth.hdl import Cat, Module, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hdl.numerics.fp_to_bf16 import FP32ToBF16

from .config import TailOp
from .pipe import delay_taps, delayed, run_in_step
from .simd_stage import BeatMeta

__all__ = ["TAIL_UNITS", "TAIL_LATENCY", "Tail"]

# TailOp -> factory of a unit with `i: stream of unsigned(32)`, `o: stream`, `latency`.
# PASS needs no unit.
TAIL_UNITS = {
    TailOp.PASS: None,
    TailOp.BF16: FP32ToBF16,
}

TAIL_LATENCY = max([1] + [factory.latency for factory in TAIL_UNITS.values() if factory])


class Tail(wiring.Component):
    """``lanes`` lanes of the tail operation selected by ``op``, TAIL_LATENCY advances deep."""

    def __init__(self, lanes: int, shared=None):
        if lanes < 1:
            raise ValueError(f"lanes must be at least 1, not {lanes}")
        self._lanes = lanes
        self._shared = shared
        vector = data.ArrayLayout(unsigned(32), lanes)
        super().__init__({
            "advance": In(1), "op": In(4),
            "i_valid": In(1), "i_meta": In(BeatMeta), "i_data": In(vector),
            "o_valid": Out(1), "o_meta": Out(BeatMeta), "o_data": Out(vector),
            "busy": Out(1),
        })

    @property
    def lanes(self) -> int:
        return self._lanes

    def elaborate(self, platform):
        m = Module()
        adv = self.advance
        valid = delay_taps(m, adv, self.i_valid, TAIL_LATENCY, "valid")
        m.d.comb += [
            self.o_valid.eq(valid[-1]),
            self.o_meta.eq(delayed(m, adv, self.i_meta, TAIL_LATENCY, "meta")),
            self.busy.eq(Cat(*valid[1:]).any()),
        ]
        for lane in range(self._lanes):
            x = self.i_data[lane]
            result = Signal(32, name=f"result{lane}")
            outputs = {}
            for tail_op, factory in TAIL_UNITS.items():
                if factory is None:
                    outputs[tail_op] = delayed(m, adv, x, TAIL_LATENCY, f"pass{lane}")
                    continue
                name = f"tail_{tail_op.name.lower()}"
                shared = (self._shared, f"pcu_{name}") if self._shared is not None else ()
                out = run_in_step(m, f"{name}{lane}", factory, adv, x, *shared)
                outputs[tail_op] = delayed(m, adv, out, TAIL_LATENCY - factory.latency,
                                           f"{tail_op.name.lower()}{lane}")
            with m.Switch(self.op):
                for tail_op, out in outputs.items():
                    with m.Case(tail_op):
                        m.d.comb += result.eq(out)
            m.d.comb += self.o_data[lane].eq(result)
        return m
