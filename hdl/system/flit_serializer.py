"""Flit serializer: one network flit out as ``words_per_flit`` link words.

The flit's bits (``data``, ``flow``, ``seq``, ``last`` from bit 0, as in
:func:`hdl.network.flit.flit_layout`) leave as consecutive ``word_width``-bit
words, lowest first, the top word zero-padded. The link's end-of-message bit
(``last``) is set on a flit's final word when the flit ends its stream
(``last``) or no further flit is waiting: the link transmitter closes a packet
at ``last``, so a packet never waits for words that are not coming, while a
steady stream fills packets up to the link's largest payload. (So the bit of a
final word that waits for the transmitter may still fall when the next flit
arrives: it counts when the word is taken.)
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.link.frame import send_layout

__all__ = ["FlitSerializer", "words_per_flit"]


def words_per_flit(flit_bits: int, word_width: int) -> int:
    """Link words that carry one flit of ``flit_bits`` bits."""
    return -(-flit_bits // word_width)


class FlitSerializer(wiring.Component):
    """Flits from ``i`` -> link send words on ``o`` addressed to socket ``dest``."""

    def __init__(self, flit_layout, word_width: int, dest: int):
        self._flit_layout = flit_layout
        self._width = word_width
        self._dest = dest
        self._words = words_per_flit(flit_layout.size, word_width)
        super().__init__({
            "i": In(stream.Signature(flit_layout)),
            "o": Out(stream.Signature(send_layout(word_width))),
        })

    def elaborate(self, platform):
        m = Module()
        words, width = self._words, self._width
        held = Signal(words * width)
        stream_end = Signal()
        full = Signal()
        index = Signal(range(max(words, 2)))
        final = index == words - 1
        take = self.o.valid & self.o.ready
        m.d.comb += [
            self.o.valid.eq(full),
            self.o.payload.data.eq(held.word_select(index, width)),
            self.o.payload.dest.eq(self._dest),
            self.o.payload.last.eq(final & (stream_end | ~self.i.valid)),
            self.i.ready.eq(~full | (take & final)),
        ]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [held.eq(self.i.payload.as_value()), stream_end.eq(self.i.payload.last),
                         full.eq(1), index.eq(0)]
        with m.Elif(take):
            with m.If(final):
                m.d.sync += [full.eq(0), index.eq(0)]
            with m.Else():
                m.d.sync += index.eq(index + 1)
        return m
