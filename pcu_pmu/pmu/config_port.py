"""Configuration port: assembles the configuration record from a stream of 32-bit words."""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .config import CONFIG_WORDS, PMUConfigLayout

__all__ = ["ConfigPort"]


class ConfigPort(wiring.Component):
    """Takes ``CONFIG_WORDS`` words (word 0 = record bits 0-31) while ``idle``.

    ``config`` holds the record; ``start`` pulses for one cycle once the last word
    has been stored, i.e. when ``config`` is complete. Words are refused while the
    unit is busy, so a new record can be queued upstream at any time.
    """

    words: In(stream.Signature(32))
    idle: In(1)
    config: Out(PMUConfigLayout)
    start: Out(1)

    def elaborate(self, platform):
        m = Module()
        index = Signal(range(CONFIG_WORDS))
        raw = self.config.as_value()
        m.d.comb += self.words.ready.eq(self.idle & ~self.start)
        m.d.sync += self.start.eq(0)
        with m.If(self.words.valid & self.words.ready):
            m.d.sync += raw.word_select(index, 32).eq(self.words.payload)
            with m.If(index == CONFIG_WORDS - 1):
                m.d.sync += [index.eq(0), self.start.eq(1)]
            with m.Else():
                m.d.sync += index.eq(index + 1)
        return m
