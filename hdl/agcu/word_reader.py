"""Reads a run of 32-bit words from AXI4 memory and streams them out in order."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.bus import BURST_INCR, RESP_OKAY, AXI4Signature

__all__ = ["WordReader"]

MAX_BURST = 16


class WordReader(wiring.Component):
    """On ``start``, read ``count`` little-endian 32-bit words from byte ``addr`` (a
    multiple of 4) and send them out of ``words`` in address order.

    Uses the AR and R channels of ``mem`` only, with ARID ``read_id``: INCR bursts of
    up to 16 full beats that never cross a 4 KiB boundary, one burst in flight.
    ``busy`` is high from the cycle after ``start`` until the last word has left
    (never, for ``count == 0``); ``resp_error`` pulses for each R beat with an error
    response (its words are still delivered).
    """

    def __init__(self, data_width: int, *, addr_width: int = 32, id_width: int = 4,
                 read_id: int = 0):
        self._read_id = read_id
        self.axi_signature = AXI4Signature(addr_width=addr_width, data_width=data_width,
                                           id_width=id_width)
        super().__init__({
            "start": In(1),
            "addr": In(32),
            "count": In(32),
            "words": Out(stream.Signature(32)),
            "busy": Out(1),
            "resp_error": Out(1),
            "mem": Out(self.axi_signature),
        })

    def elaborate(self, platform):
        m = Module()
        mem = self.mem
        beat_bytes = self.axi_signature.data_width // 8
        words_per_beat = beat_bytes // 4
        shift = (beat_bytes - 1).bit_length()
        word_shift = (words_per_beat - 1).bit_length()

        next_addr = Signal(32)
        beats_left = Signal(32)       # beats not yet requested
        words_left = Signal(32)       # words not yet sent
        word_pos = Signal(range(words_per_beat))
        in_flight = Signal()

        skip = (self.addr >> 2) & (words_per_beat - 1)
        with m.If(self.start & (self.count != 0)):
            m.d.sync += [
                self.busy.eq(1), next_addr.eq(self.addr & ~(beat_bytes - 1)),
                beats_left.eq((skip + self.count + words_per_beat - 1) >> word_shift),
                words_left.eq(self.count), word_pos.eq(skip), in_flight.eq(0),
            ]

        # AR: one burst at a time
        to_4k = (0x1000 - (next_addr & 0xFFF)) >> shift
        capped = Signal(range(MAX_BURST + 1))
        burst = Signal(range(MAX_BURST + 1))
        m.d.comb += [capped.eq(Mux(beats_left < MAX_BURST, beats_left, MAX_BURST)),
                     burst.eq(Mux(to_4k < capped, to_4k, capped))]
        m.d.comb += [mem.arid.eq(self._read_id), mem.arsize.eq(shift),
                     mem.arburst.eq(BURST_INCR)]
        with m.If(mem.arvalid & mem.arready):
            m.d.sync += [mem.arvalid.eq(0), in_flight.eq(1)]
        with m.Elif(self.busy & ~mem.arvalid & ~in_flight & (beats_left != 0)):
            m.d.sync += [mem.arvalid.eq(1), mem.araddr.eq(next_addr), mem.arlen.eq(burst - 1),
                         next_addr.eq(next_addr + (burst << shift)),
                         beats_left.eq(beats_left - burst)]

        # R: each beat gives its words from word_pos on; the beat is consumed with its
        # last needed word
        last_word = words_left == 1
        beat_done = (word_pos == words_per_beat - 1) | last_word
        m.d.comb += [
            self.words.valid.eq(self.busy & mem.rvalid),
            self.words.payload.eq(mem.rdata.word_select(word_pos, 32)),
            mem.rready.eq(self.busy & self.words.ready & beat_done),
        ]
        with m.If(self.words.valid & self.words.ready):
            m.d.sync += [words_left.eq(words_left - 1),
                         word_pos.eq(Mux(beat_done, 0, word_pos + 1))]
            with m.If(last_word):
                m.d.sync += self.busy.eq(0)
        with m.If(mem.rvalid & mem.rready):
            m.d.comb += self.resp_error.eq(mem.rresp != RESP_OKAY)
            with m.If(mem.rlast):
                m.d.sync += in_flight.eq(0)
        return m
