"""Registers of the PCU's global-stall pipeline and the adapter that runs a numerics unit in it.

Every register in the header-to-tail pipeline moves on one ``advance`` signal, so
all lanes and stages stay in step and the pipeline stalls only when its exit is
blocked. The hdl/numerics units have their own valid/ready pipelines; tying their
input valid high makes them fill right after reset, after which their output is
always valid and their registers move exactly when ``o.ready`` (= ``advance``)
is high: a fixed-latency shift register in step with ours.
"""

from amaranth.hdl import Const, Signal, Value
from amaranth.lib import data

__all__ = ["delay_taps", "delayed", "run_in_step"]


def _like(value, name):
    if isinstance(value, data.View):
        return Signal(value.shape(), name=name)
    return Signal(Value.cast(value).shape(), name=name)


def delay_taps(m, advance, value, steps: int, name: str) -> list:
    """``[value, value one advance ago, ..., value steps advances ago]``."""
    taps = [value]
    for k in range(steps):
        reg = _like(value, f"{name}_d{k + 1}")
        with m.If(advance):
            m.d.sync += reg.eq(taps[-1])
        taps.append(reg)
    return taps


def delayed(m, advance, value, steps: int, name: str):
    """``value`` as it was ``steps`` advances ago (``value`` itself for 0 steps)."""
    return delay_taps(m, advance, value, steps, name)[-1]


def run_in_step(m, name: str, factory, advance, payload=None, shared=None, module=None):
    """Add ``factory()`` as a fixed-latency submodule moving with ``advance``; return its output.

    With ``shared`` (a :class:`~.shared_modules.SharedModules`) the unit becomes an
    instance of the shared Verilog module ``module`` instead of an inline copy.
    """
    unit = factory()
    if shared is None:
        m.submodules[name] = unit
    else:
        shared.instantiate(m, name, module, unit, factory)
    m.d.comb += [unit.i.valid.eq(Const(1)), unit.o.ready.eq(advance)]
    if isinstance(payload, dict):
        for name, value in payload.items():
            field = unit.i.payload[name]
            m.d.comb += Value.cast(field).eq(value)  # Value.cast: enum fields take plain bits
    elif payload is not None:
        m.d.comb += unit.i.payload.eq(payload)
    return unit.o.payload
