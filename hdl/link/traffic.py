"""RTL traffic generator and checker for one VC, so long link runs keep Python off the
per-cycle path (sequence definition: ``traffic_packets`` in testbench/golden/link.py).

Both derive every word from xorshift32 generators seeded by ``seed`` (loaded on
``start``): word = packet index (bits 0-15) | payload generator << 16, length =
``fixed_length`` or 1 + (length generator & ``length_mask``). Each stalls with
probability ``stall_threshold`` / 2**32 per cycle from its own generator.

The checker classifies every packet by the index in its first word: the one
expected (then every word and ``last`` is compared), an earlier one
(``duplicates``) or a later one (``out_of_order``: a packet lost or reordered);
``corrupted_words`` counts words that differ from the expected ones, and
``packets_ok`` packets delivered whole and intact. It also sums the cycle of
each packet's first word, as the generator does, for the mean packet latency.
"""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .channel import xorshift32_next
from .frame import recv_layout, send_layout

__all__ = ["TrafficGenerator", "TrafficChecker"]

LENGTH_SEED_XOR = 0x5A5A5A5A
STALL_SEED_XOR = 0x3C6EF372
CHECKER_STALL_SEED_XOR = 0x6A09E667


class _Sequence:
    """The payload/length generators shared by generator and checker."""

    def __init__(self, m, component, width, stall_xor):
        self.payload_state = Signal(32, init=1)
        self.length_state = Signal(32, init=1)
        self.stall_state = Signal(32, init=1)
        self.index = Signal(16)
        self.word = Signal(8)
        self.length = Signal(8)
        c = component
        next_length_state = xorshift32_next(self.length_state)
        self.next_payload = xorshift32_next(self.payload_state)
        new_length = Mux(c.fixed_length != 0, c.fixed_length,
                         1 + (next_length_state[:8] & c.length_mask))
        self.current_length = Mux(self.word == 0, new_length, self.length)
        self.data = Cat(self.index, Cat(self.next_payload, self.next_payload))[:width]
        self.last = self.word + 1 == self.current_length
        self.stall = Signal()
        m.d.comb += self.stall.eq(self.stall_state < c.stall_threshold)
        m.d.sync += self.stall_state.eq(xorshift32_next(self.stall_state))
        with m.If(c.start):
            m.d.sync += [self.payload_state.eq(c.seed),
                         self.length_state.eq(c.seed ^ LENGTH_SEED_XOR),
                         self.stall_state.eq(c.seed ^ stall_xor), self.index.eq(0),
                         self.word.eq(0)]
        self._next_length_state = next_length_state
        self._new_length = new_length

    def advance(self, m):
        m.d.sync += self.payload_state.eq(self.next_payload)
        with m.If(self.word == 0):
            m.d.sync += [self.length_state.eq(self._next_length_state),
                         self.length.eq(self._new_length)]
        with m.If(self.last):
            m.d.sync += [self.word.eq(0), self.index.eq(self.index + 1)]
        with m.Else():
            m.d.sync += self.word.eq(self.word + 1)


def _settings():
    return {"start": In(1), "enable": In(1), "packets": In(16), "fixed_length": In(8),
            "length_mask": In(8), "seed": In(32), "stall_threshold": In(32), "cycle": In(48)}


class TrafficGenerator(wiring.Component):
    """Emits ``packets`` packets of the seeded sequence on ``stream`` to socket ``dest``."""

    def __init__(self, width: int):
        self._width = width
        super().__init__({
            **_settings(), "dest": In(4),
            "stream": Out(stream.Signature(send_layout(width))),
            "words": Out(32), "first_cycle_sum": Out(64),
        })

    def elaborate(self, platform):
        m = Module()
        seq = _Sequence(m, self, self._width, STALL_SEED_XOR)
        active = self.enable & ~self.start & (seq.index < self.packets)
        m.d.comb += [self.stream.valid.eq(active & ~seq.stall),
                     self.stream.payload.data.eq(seq.data),
                     self.stream.payload.dest.eq(self.dest),
                     self.stream.payload.last.eq(seq.last)]
        with m.If(self.stream.valid & self.stream.ready):
            seq.advance(m)
            m.d.sync += self.words.eq(self.words + 1)
            with m.If(seq.word == 0):
                m.d.sync += self.first_cycle_sum.eq(self.first_cycle_sum + self.cycle)
        return m


class TrafficChecker(wiring.Component):
    """Checks ``stream`` against the seeded sequence (see module docstring); ``src`` and
    ``dest`` are the sockets every word must name."""

    def __init__(self, width: int):
        self._width = width
        super().__init__({
            **_settings(), "src": In(4), "dest": In(4),
            "stream": In(stream.Signature(recv_layout(width))),
            "words": Out(32), "packets_ok": Out(32), "packets_seen": Out(32),
            "corrupted_words": Out(32), "duplicates": Out(32), "out_of_order": Out(32),
            "socket_errors": Out(32), "done": Out(1),
            "first_cycle_sum": Out(64), "first_word_cycle": Out(48), "last_word_cycle": Out(48),
        })

    def elaborate(self, platform):
        m = Module()
        seq = _Sequence(m, self, self._width, CHECKER_STALL_SEED_XOR)
        m.d.comb += [self.stream.ready.eq(self.enable & ~self.start & ~seq.stall),
                     self.done.eq(seq.index >= self.packets)]
        beat = self.stream.payload
        packet_bad = Signal()
        with m.If(self.stream.valid & self.stream.ready):
            seq.advance(m)
            wrong = (beat.data != seq.data) | (beat.last != seq.last)
            m.d.sync += [self.words.eq(self.words + 1), self.last_word_cycle.eq(self.cycle)]
            with m.If(self.words == 0):
                m.d.sync += self.first_word_cycle.eq(self.cycle)
            with m.If((beat.src != self.src) | (beat.dest != self.dest)):
                m.d.sync += self.socket_errors.eq(self.socket_errors + 1)
            with m.If(wrong):
                m.d.sync += self.corrupted_words.eq(self.corrupted_words + 1)
            with m.If(seq.word == 0):
                got = beat.data[:16]
                ahead = Signal(16)
                m.d.comb += ahead.eq(got - seq.index)
                m.d.sync += [self.first_cycle_sum.eq(self.first_cycle_sum + self.cycle),
                             self.packets_seen.eq(self.packets_seen + 1), packet_bad.eq(wrong)]
                with m.If(ahead != 0):
                    with m.If(ahead[15]):
                        m.d.sync += self.duplicates.eq(self.duplicates + 1)
                    with m.Else():
                        m.d.sync += self.out_of_order.eq(self.out_of_order + 1)
                with m.If(seq.last & ~wrong):
                    m.d.sync += self.packets_ok.eq(self.packets_ok + 1)
            with m.Else():
                m.d.sync += packet_bad.eq(packet_bad | wrong)
                with m.If(seq.last & ~wrong & ~packet_bad):
                    m.d.sync += self.packets_ok.eq(self.packets_ok + 1)
        return m
