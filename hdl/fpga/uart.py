"""8N1 UART receiver and transmitter with a configurable clock divisor."""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

__all__ = ["UARTTx", "UARTRx"]


def _check_divisor(divisor: int) -> None:
    if not isinstance(divisor, int) or divisor < 4:
        raise ValueError(f"UART divisor (clocks per bit) must be an integer >= 4, not {divisor!r}")


class UARTTx(wiring.Component):
    """Sends each byte of stream ``i`` on ``tx``: start bit, 8 data bits LSB first, stop bit.

    ``divisor`` is the number of clock cycles per bit (clock / baud rate).
    """

    def __init__(self, divisor: int):
        _check_divisor(divisor)
        self._divisor = divisor
        super().__init__({"i": In(stream.Signature(8)), "tx": Out(1, init=1)})

    @property
    def divisor(self) -> int:
        return self._divisor

    def elaborate(self, platform):
        m = Module()
        shift = Signal(10)  # stop, data[7:0], start; shifted out LSB first
        bits = Signal(range(11))
        timer = Signal(range(self._divisor))
        m.d.comb += self.i.ready.eq(bits == 0)
        m.d.sync += self.tx.eq((bits == 0) | shift[0])
        with m.If(bits == 0):
            with m.If(self.i.valid):
                m.d.sync += [shift.eq(self.i.payload << 1 | (1 << 9)), bits.eq(10),
                             timer.eq(self._divisor - 1)]
        with m.Elif(timer == 0):
            m.d.sync += [shift.eq(shift >> 1), bits.eq(bits - 1), timer.eq(self._divisor - 1)]
        with m.Else():
            m.d.sync += timer.eq(timer - 1)
        return m


class UARTRx(wiring.Component):
    """Receives 8N1 bytes from ``rx`` onto stream ``o``.

    ``rx`` passes a two-flop synchroniser; each bit is sampled in its middle.
    A byte that arrives while the previous one is still unread is dropped and
    sets the sticky ``overrun`` flag; a missing stop bit sets ``frame_error``.
    """

    def __init__(self, divisor: int):
        _check_divisor(divisor)
        self._divisor = divisor
        super().__init__({"rx": In(1, init=1), "o": Out(stream.Signature(8)),
                          "overrun": Out(1), "frame_error": Out(1)})

    @property
    def divisor(self) -> int:
        return self._divisor

    def elaborate(self, platform):
        m = Module()
        rx = Signal(init=1)
        m.submodules.sync_rx = FFSynchronizer(self.rx, rx, init=1)
        timer = Signal(range(self._divisor + self._divisor // 2 + 1))
        bits = Signal(range(10))
        shift = Signal(8)
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    # Sample the start bit's middle, then each following bit's middle.
                    m.d.sync += [timer.eq(self._divisor // 2 - 1), bits.eq(0)]
                    m.next = "START"
            with m.State("START"):
                with m.If(timer == 0):
                    with m.If(rx):
                        m.next = "IDLE"  # a glitch, not a start bit
                    with m.Else():
                        m.d.sync += timer.eq(self._divisor - 1)
                        m.next = "DATA"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("DATA"):
                with m.If(timer == 0):
                    m.d.sync += [shift.eq(rx << 7 | shift >> 1), bits.eq(bits + 1),
                                 timer.eq(self._divisor - 1)]
                    with m.If(bits == 7):
                        m.next = "STOP"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("STOP"):
                with m.If(timer == 0):
                    with m.If(~rx):
                        m.d.sync += self.frame_error.eq(1)
                    with m.Elif(self.o.valid & ~self.o.ready):
                        m.d.sync += self.overrun.eq(1)
                    with m.Else():
                        m.d.sync += [self.o.payload.eq(shift), self.o.valid.eq(1)]
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
        return m
