"""A valid/ready pipeline whose registers advance together.

Every stage register moves when the output either holds nothing or is being
taken, so the pipeline accepts one operand set per cycle and only stalls when a
result is waiting at the output. Input ``ready`` depends on output ``ready``
combinationally, never the other way round, as ``amaranth.lib.stream`` requires.

Only the valid bits have a reset: data means nothing without its valid, and
Verilator re-evaluates whatever depends on the ``rst`` input at every eval,
however still the registers hold.
"""

from amaranth.hdl import Signal, Value

__all__ = ["StallPipeline", "combinational_stage"]


class StallPipeline:
    """Builds the register stages of one pipelined unit inside ``m``.

    Usage: ``p = StallPipeline(m, i_stream, o_stream)``; compute stage 0 from
    ``i_stream.payload``; ``r = p.stage(a=..., b=...)`` registers the values and
    returns them as attributes; ``p.finish(result)`` drives the output stream.
    """

    def __init__(self, m, i_stream, o_stream):
        self._m = m
        self._o = o_stream
        self.advance = Signal()
        self.depth = 0
        m.d.comb += [
            self.advance.eq(~o_stream.valid | o_stream.ready),
            i_stream.ready.eq(self.advance),
        ]
        self._valid = i_stream.valid

    def stage(self, **values) -> "_Stage":
        """Register ``values`` (name -> Value) behind one pipeline stage."""
        self.depth += 1
        valid = Signal(name=f"stage{self.depth}_valid")
        regs = {}
        with self._m.If(self.advance):
            self._m.d.sync += valid.eq(self._valid)
            for name, value in values.items():
                value = Value.cast(value)
                reg = Signal(value.shape(), name=f"s{self.depth}_{name}", reset_less=True)
                self._m.d.sync += reg.eq(value)
                regs[name] = reg
        self._valid = valid
        return _Stage(regs)

    def finish(self, payload):
        """Drive the output stream from the last stage."""
        if self.depth == 0:
            raise ValueError("a StallPipeline needs at least one registered stage")
        self._m.d.comb += [self._o.valid.eq(self._valid), self._o.payload.eq(payload)]


class _Stage:
    def __init__(self, regs):
        self.__dict__.update(regs)


def combinational_stage(m, prefix: str):
    """A ``stage`` callable like :meth:`StallPipeline.stage` that inserts named wires
    instead of registers, for a datapath used inside a single-cycle loop."""
    count = 0

    def stage(**values) -> _Stage:
        nonlocal count
        count += 1
        wires = {}
        for name, value in values.items():
            value = Value.cast(value)
            wire = Signal(value.shape(), name=f"{prefix}_s{count}_{name}")
            m.d.comb += wire.eq(value)
            wires[name] = wire
        return _Stage(wires)

    return stage
