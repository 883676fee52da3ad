"""Board-level top of the RDU prototype: the bridged RDU on the ULX3S 85F's FTDI UART."""

from amaranth.hdl import ClockDomain, ClockSignal, Elaboratable, Instance, Module, Signal

from hdl.rdu.config import RDUParams

from .board_top import heartbeat_led, uart_divisor
from .bridged_rdu import BridgedRDU
from .ecp5_pll import ECP5PLL, core_clock_hz, pll_settings

__all__ = ["RDUBoardTop", "CORE_NAME"]

CORE_NAME = "rdu_core"


class RDUBoardTop(Elaboratable):
    """:class:`BridgedRDU` for ``config`` talking on UART 0 at ``baud``, clocked by the
    board's default clock or, with ``clock_mhz``, by an ECP5 PLL making that frequency
    from it. LED 0 shows the RDU's busy, LED 1 its error, LED 7 a heartbeat.

    The core goes in as its own Verilog (:meth:`BridgedRDU.emit_verilog`, which carries
    the shared PCU submodules' definitions), added to the platform's files and
    instantiated here. It is held in reset for 255 cycles after configuration (after
    the PLL locks).
    """

    def __init__(self, config: RDUParams, baud: int = 115200, clock_mhz: float | None = None):
        if baud <= 0:
            raise ValueError(f"baud rate must be positive, not {baud}")
        self._config = config
        self._baud = baud
        self._clock_mhz = clock_mhz

    def clock_hz(self, platform) -> float:
        """The core's clock on ``platform``: ``clock_mhz`` as the PLL makes it, or the
        board's default clock."""
        return core_clock_hz(platform.default_clk_frequency, self._clock_mhz)

    def elaborate(self, platform):
        m = Module()
        divisor = uart_divisor(self.clock_hz(platform), self._baud)
        platform.add_file(f"{CORE_NAME}.v",
                          BridgedRDU(self._config, divisor).emit_verilog(CORE_NAME))
        board_clock = platform.request(platform.default_clk, 0).i
        ready = Signal(init=1)
        m.domains.sync = ClockDomain(reset_less=True)
        if self._clock_mhz is None:
            m.d.comb += ClockSignal("sync").eq(board_clock)
        else:
            settings = pll_settings(platform.default_clk_frequency / 1e6, self._clock_mhz)
            m.submodules.pll = pll = ECP5PLL(board_clock, settings)
            m.d.comb += ready.eq(pll.locked)
        settle = Signal(8)
        with m.If(ready & ~settle.all()):
            m.d.sync += settle.eq(settle + 1)
        uart = platform.request("uart", 0)
        m.submodules.core = Instance(
            CORE_NAME, i_clk=ClockSignal("sync"), i_rst=~settle.all(), i_rx=uart.rx.i,
            o_tx=uart.tx.o, o_busy=platform.request("led", 0).o,
            o_error=platform.request("led", 1).o)
        heartbeat_led(m, platform)
        return m
