"""Board-level top of the RDU prototype: the bridged RDU on the ULX3S 85F's FTDI UART."""

from amaranth.hdl import ClockDomain, ClockSignal, Elaboratable, Instance, Module, Signal

from hdl.rdu.config import RDUConfig

from .board_top import heartbeat_led, uart_divisor
from .bridged_rdu import BridgedRDU

__all__ = ["RDUBoardTop", "CORE_NAME"]

CORE_NAME = "rdu_core"


class RDUBoardTop(Elaboratable):
    """:class:`BridgedRDU` for ``config`` clocked by the board's default clock, talking on
    UART 0 at ``baud``. LED 0 shows the RDU's busy, LED 1 its error, LED 7 a heartbeat.

    The core goes in as its own Verilog (:meth:`BridgedRDU.emit_verilog`, which carries
    the shared PCU submodules' definitions), added to the platform's files and
    instantiated here. It is held in reset for 255 cycles after configuration.
    """

    def __init__(self, config: RDUConfig, baud: int = 115200):
        if baud <= 0:
            raise ValueError(f"baud rate must be positive, not {baud}")
        self._config = config
        self._baud = baud

    def elaborate(self, platform):
        m = Module()
        divisor = uart_divisor(platform.default_clk_frequency, self._baud)
        platform.add_file(f"{CORE_NAME}.v",
                          BridgedRDU(self._config, divisor).emit_verilog(CORE_NAME))
        m.domains.sync = ClockDomain(reset_less=True)
        m.d.comb += ClockSignal("sync").eq(platform.request(platform.default_clk, 0).i)
        settle = Signal(8)
        with m.If(~settle.all()):
            m.d.sync += settle.eq(settle + 1)
        uart = platform.request("uart", 0)
        m.submodules.core = Instance(
            CORE_NAME, i_clk=ClockSignal("sync"), i_rst=~settle.all(), i_rx=uart.rx.i,
            o_tx=uart.tx.o, o_busy=platform.request("led", 0).o,
            o_error=platform.request("led", 1).o)
        heartbeat_led(m, platform)
        return m
