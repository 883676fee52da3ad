"""Flit deserializer: link words back into network flits (the inverse of
:class:`~.flit_serializer.FlitSerializer`).

The link delivers every word once and in order, so word ``k`` of a flit is
simply the ``k``-th word since the previous flit. Each word's source and
destination sockets are checked against the link's peer and this socket; a
mismatch sets the sticky ``error`` (the word is still counted, so the stream
stays aligned).
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.link.frame import recv_layout

from .flit_serializer import words_per_flit

__all__ = ["FlitDeserializer"]


class FlitDeserializer(wiring.Component):
    """Link receive words from ``i`` (sent by socket ``src`` to socket ``dest``) -> flits."""

    def __init__(self, flit_layout, word_width: int, src: int, dest: int):
        self._flit_layout = flit_layout
        self._width = word_width
        self._src, self._dest = src, dest
        self._words = words_per_flit(flit_layout.size, word_width)
        super().__init__({
            "i": In(stream.Signature(recv_layout(word_width))),
            "o": Out(stream.Signature(flit_layout)),
            "error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        words, width = self._words, self._width
        # Words 0 .. words-2 wait here; the final word completes the flit combinationally.
        held = Signal(max(1, (words - 1) * width))
        index = Signal(range(max(words, 2)))
        final = index == words - 1
        whole = Cat(held[:(words - 1) * width], self.i.payload.data)
        m.d.comb += [
            self.o.payload.eq(whole[:self._flit_layout.size]),
            self.o.valid.eq(self.i.valid & final),
            self.i.ready.eq(~final | self.o.ready),
        ]
        with m.If(self.i.valid & self.i.ready):
            with m.If(final):
                m.d.sync += index.eq(0)
            if words > 1:
                with m.Else():
                    m.d.sync += [index.eq(index + 1),
                                 held.word_select(index, width).eq(self.i.payload.data)]
            with m.If((self.i.payload.src != self._src) | (self.i.payload.dest != self._dest)):
                m.d.sync += self.error.eq(1)
        return m
