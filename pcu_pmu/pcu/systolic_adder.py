"""A single-cycle binary32 adder: the accumulator feedback path of a systolic PE.

The systolic array accumulates ``c = c + p`` in order over k, one k per cycle,
so the adder sits inside a one-cycle loop. This is hdl/numerics FP32Adder's
datapath, the same code (:func:`hdl.numerics.fp_add.fp32_add_datapath`), with
its stage registers replaced by wires; ``tests/test_pcu_systolic.py`` also
checks it bit-exact against the golden f32_add on hard vectors.
"""

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.numerics.fp_add import fp32_add_datapath
from hdl.numerics.lane_array import LaneArray
from hdl.numerics.pipeline import combinational_stage

__all__ = ["fp32_add_comb", "SingleCycleFP32Adder", "make_single_cycle_adder_lanes"]


def fp32_add_comb(m: Module, a, b, *, name: str = "add") -> Signal:
    """``a + b`` in binary32 (round-to-nearest-even), combinational; returns a 32-bit signal.

    FP32Adder's own datapath (:func:`hdl.numerics.fp_add.fp32_add_datapath`) with
    wires where FP32Adder has stage registers, so the results are bit-identical.
    """
    out = Signal(32, name=f"{name}_sum")
    m.d.comb += out.eq(fp32_add_datapath(m, a, b, combinational_stage(m, name), name=name))
    return out


class SingleCycleFP32Adder(wiring.Component):
    """``o = a + b`` through :func:`fp32_add_comb` with one output register (latency 1).

    Exists so the combinational adder can be checked on its own with the
    arithmetic-unit stream tests; the systolic array uses the function directly.
    """

    latency = 1

    def __init__(self):
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({"a": 32, "b": 32}))),
            "o": Out(stream.Signature(unsigned(32))),
        })

    def elaborate(self, platform):
        m = Module()
        total = fp32_add_comb(m, self.i.payload.a, self.i.payload.b)
        result = Signal(32)
        m.d.comb += [self.i.ready.eq(~self.o.valid | self.o.ready),
                     self.o.payload.eq(result)]
        with m.If(self.i.ready):
            m.d.sync += [self.o.valid.eq(self.i.valid), result.eq(total)]
        return m


def make_single_cycle_adder_lanes(lanes: int = 8) -> LaneArray:
    """``lanes`` single-cycle adders behind one stream (a Design factory for the tests)."""
    return LaneArray(SingleCycleFP32Adder, lanes)
