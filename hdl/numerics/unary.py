"""The interface shared by the one-operand binary32 units (exp, reciprocal, rsqrt, SiLU)."""

from amaranth.hdl import unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["UnaryFP32Unit"]


class UnaryFP32Unit(wiring.Component):
    """A valid/ready unit taking one binary32 bit pattern and returning one."""

    def __init__(self):
        super().__init__({
            "i": In(stream.Signature(unsigned(32))),
            "o": Out(stream.Signature(unsigned(32))),
        })
