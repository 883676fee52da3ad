"""Reads runs of 32-bit words from AXI4 memory ahead of their use, through a beat buffer."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.bus import BURST_INCR, RESP_OKAY, AXI4Signature

__all__ = ["WordReader", "MAX_BURST", "BURSTS_IN_FLIGHT"]

MAX_BURST = 16
BURSTS_IN_FLIGHT = 4


def _beat_layout(data_width: int) -> data.StructLayout:
    """A beat and the first and last of its words that belong to the run."""
    pos = max(1, (data_width // 32 - 1).bit_length())
    return data.StructLayout({"data": data_width, "first": pos, "last": pos})


class WordReader(wiring.Component):
    """Reads runs of little-endian 32-bit words and sends them out of ``words`` in order,
    one per cycle.

    ``start`` queues a run of ``count`` words at byte ``addr`` (a multiple of 4); it is
    taken while ``ready``, which is high again as soon as the run's last AR is issued, so
    the next run's requests follow without waiting for the data. Requests are INCR bursts
    with ARID ``read_id`` of at most 16 beats and half the buffer that never cross a 4 KiB
    boundary, at most ``BURSTS_IN_FLIGHT`` in flight.

    R beats land in a buffer of ``buffer_words`` words (whole beats), and a burst is
    requested only when the buffer has room for all its beats: R is never held by a
    reader whose consumer is slow, so a memory that serves one burst at a time (or
    returns every port's beats in request order) keeps serving the other masters.

    A run with ``direct`` skips the buffer and needs no room: each of its beats shows on
    ``beat`` for the one cycle it arrives (``valid``; ``first``, ``last``: its first and
    last word of the run), for a receiver that always takes it. ``resp_error`` pulses for
    each R beat with an error response (its words are still delivered).
    """

    def __init__(self, data_width: int, *, addr_width: int = 32, id_width: int = 4,
                 read_id: int = 0, buffer_words: int = 128):
        words_per_beat = data_width // 32
        self.capacity = buffer_words // words_per_beat    # in beats
        if self.capacity < 2:
            raise ValueError(f"a buffer of {buffer_words} words holds fewer than two "
                             f"{data_width}-bit beats")
        self._read_id = read_id
        self.axi_signature = AXI4Signature(addr_width=addr_width, data_width=data_width,
                                           id_width=id_width)
        beat = _beat_layout(data_width)
        super().__init__({
            "start": In(1),
            "addr": In(32),
            "count": In(32),
            "direct": In(1),
            "ready": Out(1),
            "words": Out(stream.Signature(32)),
            "beat": Out(data.StructLayout({"valid": 1, **beat.members})),
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
        beat_layout = _beat_layout(self.axi_signature.data_width)
        max_burst = min(MAX_BURST, self.capacity // 2)

        # The buffered depth is one more than the capacity: SyncFIFOBuffered takes a write
        # only while its memory (depth - 1 entries) has room.
        m.submodules.buffer = buffer = fifo.SyncFIFOBuffered(width=beat_layout.size,
                                                             depth=self.capacity + 1)
        # per burst in flight: first word of its first beat, last word of its last beat
        burst_layout = data.StructLayout({"first": beat_layout.members["first"],
                                          "last": beat_layout.members["last"], "direct": 1})
        m.submodules.bursts = bursts = fifo.SyncFIFO(width=burst_layout.size,
                                                     depth=BURSTS_IN_FLIGHT)

        # ---- AR: the run being requested
        next_addr = Signal(32)
        beats_left = Signal(32)        # beats of the run not yet requested
        first_burst = Signal()
        run_skip = Signal.like(self.beat.first)
        run_last = Signal.like(self.beat.last)
        run_direct = Signal()
        m.d.comb += self.ready.eq(beats_left == 0)
        with m.If(self.start & self.ready & (self.count != 0)):
            skip = (self.addr >> 2) & (words_per_beat - 1)
            m.d.sync += [
                next_addr.eq(self.addr & ~(beat_bytes - 1)),
                beats_left.eq((skip + self.count + words_per_beat - 1) >> word_shift),
                first_burst.eq(1), run_skip.eq(skip), run_direct.eq(self.direct),
                run_last.eq(((self.addr >> 2) + self.count - 1) & (words_per_beat - 1)),
            ]

        to_4k = (0x1000 - (next_addr & 0xFFF)) >> shift
        capped = Signal(range(MAX_BURST + 1))
        burst = Signal(range(MAX_BURST + 1))
        m.d.comb += [capped.eq(Mux(beats_left < max_burst, beats_left, max_burst)),
                     burst.eq(Mux(to_4k < capped, to_4k, capped))]
        reserved = Signal(range(self.capacity + 1))   # beats requested, not yet buffered
        fits = run_direct | (buffer.level + reserved + burst <= self.capacity)
        issue = (beats_left != 0) & ~mem.arvalid & bursts.w_rdy & fits
        pushed = Signal(burst_layout)
        m.d.comb += [mem.arid.eq(self._read_id), mem.arsize.eq(shift),
                     mem.arburst.eq(BURST_INCR),
                     pushed.first.eq(Mux(first_burst, run_skip, 0)),
                     pushed.last.eq(Mux(burst == beats_left, run_last, words_per_beat - 1)),
                     pushed.direct.eq(run_direct),
                     bursts.w_data.eq(pushed), bursts.w_en.eq(issue)]
        with m.If(mem.arvalid & mem.arready):
            m.d.sync += mem.arvalid.eq(0)
        with m.If(issue):
            m.d.sync += [mem.arvalid.eq(1), mem.araddr.eq(next_addr), mem.arlen.eq(burst - 1),
                         next_addr.eq(next_addr + (burst << shift)),
                         beats_left.eq(beats_left - burst), first_burst.eq(0)]

        # ---- R: each beat into the buffer (room reserved) or out of ``beat``
        head = Signal(burst_layout)
        burst_start = Signal(init=1)   # the next beat is the first of its burst
        arrived = Signal(beat_layout)
        m.d.comb += [
            head.eq(bursts.r_data),
            mem.rready.eq(bursts.r_rdy & (head.direct | buffer.w_rdy)),
            arrived.data.eq(mem.rdata),
            arrived.first.eq(Mux(burst_start, head.first, 0)),
            arrived.last.eq(Mux(mem.rlast, head.last, words_per_beat - 1)),
        ]
        took = mem.rvalid & mem.rready
        m.d.comb += [
            buffer.w_data.eq(arrived), buffer.w_en.eq(took & ~head.direct),
            self.beat.valid.eq(took & head.direct), self.beat.data.eq(arrived.data),
            self.beat.first.eq(arrived.first), self.beat.last.eq(arrived.last),
            self.resp_error.eq(took & (mem.rresp != RESP_OKAY)),
        ]
        with m.If(took):
            m.d.sync += burst_start.eq(mem.rlast)
            m.d.comb += bursts.r_en.eq(mem.rlast)
        m.d.sync += reserved.eq(reserved + Mux(issue & ~run_direct, burst, 0)
                                - (took & ~head.direct))

        # ---- buffer -> words, from each beat's first word to its last
        out = Signal(beat_layout)
        offset = Signal.like(out.first)   # words of the head beat already sent
        pos = Signal.like(out.first)
        m.d.comb += [out.eq(buffer.r_data), pos.eq(out.first + offset),
                     self.words.valid.eq(buffer.r_rdy),
                     self.words.payload.eq(out.data.word_select(pos, 32))]
        with m.If(self.words.valid & self.words.ready):
            with m.If(pos == out.last):
                m.d.comb += buffer.r_en.eq(1)
                m.d.sync += offset.eq(0)
            with m.Else():
                m.d.sync += offset.eq(offset + 1)
        return m
