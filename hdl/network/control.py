"""Control fabric: circuit-switched 1-bit tokens (done/start pulses between units).

Ports: ``src: In(sources)`` (one token pulse line per source), ``snk: Out(sinks)``
(one per sink), ``cfg: In(stream.Signature(32))`` (always ready). A sink follows
its selected source one cycle later (registered); a sink with no source stays 0.

``cfg`` word: bits 0-15 sink index, bits 16-31 source index + 1 (0 disconnects
the sink). Words for a sink index >= ``sinks`` are ignored; a source index +1
> ``sources`` disconnects. :func:`control_words` builds the words.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["ControlFabric", "control_words", "make_control_fabric"]

MAX_PORTS = (1 << 16) - 1


def control_words(select: dict, *, sources: int | None = None,
                  sinks: int | None = None) -> list[int]:
    """``cfg`` words connecting ``sink -> source`` for each item (source None disconnects).

    With ``sources`` / ``sinks`` given, indices are checked against them.
    """
    words = []
    for sink, source in sorted(select.items()):
        limit = MAX_PORTS if sinks is None else sinks
        if not isinstance(sink, int) or not 0 <= sink < limit:
            raise ValueError(f"sink {sink!r} is out of range 0..{limit - 1}")
        if source is None:
            words.append(sink)
            continue
        limit = MAX_PORTS if sources is None else sources
        if not isinstance(source, int) or not 0 <= source < limit:
            raise ValueError(f"source {source!r} (for sink {sink}) is out of range "
                             f"0..{limit - 1}")
        words.append(sink | ((source + 1) << 16))
    return words


class ControlFabric(wiring.Component):
    """A ``sources`` x ``sinks`` token crossbar, one configured source per sink."""

    def __init__(self, sources: int, sinks: int):
        for name, value in (("sources", sources), ("sinks", sinks)):
            if not isinstance(value, int) or not 1 <= value <= MAX_PORTS:
                raise ValueError(f"{name} must be in 1..{MAX_PORTS}, not {value!r}")
        self._sources, self._sinks = sources, sinks
        super().__init__({
            "src": In(sources),
            "snk": Out(sinks),
            "cfg": In(stream.Signature(32)),
        })

    def elaborate(self, platform):
        m = Module()
        word = self.cfg.payload
        sink_index, source_plus_one = word[0:16], word[16:32]
        # A zero bit in front of the sources: select 0 reads it, so "no source" is 0.
        lines = Signal(self._sources + 1)
        m.d.comb += [self.cfg.ready.eq(1), lines.eq(self.src << 1)]
        for k in range(self._sinks):
            select = Signal(range(self._sources + 1), name=f"select_{k}")
            with m.If(self.cfg.valid & (sink_index == k)):
                with m.If(source_plus_one <= self._sources):
                    m.d.sync += select.eq(source_plus_one)
                with m.Else():
                    m.d.sync += select.eq(0)
            m.d.sync += self.snk[k].eq(lines.bit_select(select, 1))
        return m


def make_control_fabric(sources: int, sinks: int) -> ControlFabric:
    """Factory for the build cache."""
    return ControlFabric(sources, sinks)
