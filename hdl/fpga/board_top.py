"""Board-level top: a design behind the host bridge on the ULX3S 85F's FTDI UART."""

from amaranth.hdl import Elaboratable, Module, Signal

from .bridged import BridgedUnit

__all__ = ["BoardTop", "BOARDS", "board_platform", "uart_divisor", "heartbeat_led"]

BOARDS = {"ulx3s-85f": ("amaranth_boards.ulx3s", "ULX3S_85F_Platform")}


def board_platform(board: str):
    """An amaranth-boards platform instance for a board name of BOARDS."""
    import importlib

    try:
        module, cls = BOARDS[board]
    except KeyError:
        raise ValueError(f"unknown board {board!r}; known: {', '.join(BOARDS)}") from None
    return getattr(importlib.import_module(module), cls)()


def uart_divisor(clock_hz: float, baud: int) -> int:
    """Clock cycles per UART bit; a ValueError if ``baud`` is more than 2 % off."""
    if baud <= 0:
        raise ValueError(f"baud rate must be positive, not {baud}")
    divisor = round(clock_hz / baud)
    error = abs(clock_hz / divisor / baud - 1)
    if error > 0.02:
        raise ValueError(f"{baud} baud is {error:.1%} off at {clock_hz / 1e6} MHz")
    return divisor


def heartbeat_led(m, platform, led: int = 7) -> None:
    """LED ``led`` blinks (about 1.5 Hz at 25 MHz, 3 Hz at 50 MHz): the bitstream is running."""
    heartbeat = Signal(24)
    m.d.sync += heartbeat.eq(heartbeat + 1)
    m.d.comb += platform.request("led", led).o.eq(heartbeat[-1])


class BoardTop(Elaboratable):
    """``make_unit()`` (a valid/ready component) behind the host bridge, clocked by the
    board's default clock, talking on UART 0 at ``baud``. LED 0 shows ``busy``,
    LED 7 blinks at about 1.5 Hz to show the bitstream is running."""

    def __init__(self, make_unit, baud: int = 115200, depth: int = 512):
        if baud <= 0:
            raise ValueError(f"baud rate must be positive, not {baud}")
        self._make_unit = make_unit
        self._baud = baud
        self._depth = depth

    def clock_hz(self, platform) -> float:
        """The core's clock: the board's default clock."""
        return platform.default_clk_frequency

    def elaborate(self, platform):
        m = Module()
        divisor = uart_divisor(self.clock_hz(platform), self._baud)
        m.submodules.core = core = BridgedUnit(self._make_unit(), divisor, self._depth)
        uart = platform.request("uart", 0)
        m.d.comb += [core.rx.eq(uart.rx.i), uart.tx.o.eq(core.tx)]
        m.d.comb += platform.request("led", 0).o.eq(core.harness.busy)
        heartbeat_led(m, platform)
        return m
