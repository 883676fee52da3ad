"""A command protocol over UART that drives the internal bus, start and status.

Requests (bytes, multi-byte fields little-endian) and responses:

======  ==================================  =====================================
code    request                             response
======  ==================================  =====================================
0x57    'W' addr[2] data[4]: write a word   ACK
0x52    'R' addr[2]: read a word            ACK data[4]
0x53    'S': start the wrapped design       ACK
0x3F    '?': status                         ACK status[1] (bit 0: busy)
other                                       NAK
======  ==================================  =====================================

A write's ACK comes once the bus target has taken the write (``bus.ready``), so
a write to a slow target (e.g. the AXI master of :mod:`.axi_bus_master`) is done
when the host sees its ACK.

ACK is 0xAA, NAK 0xEE. The host waits for each response before the next
request, so the bridge never needs to queue requests.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .bus import BusSignature
from .uart import UARTRx, UARTTx

__all__ = ["HostBridge", "CMD_WRITE", "CMD_READ", "CMD_START", "CMD_STATUS", "ACK", "NAK"]

CMD_WRITE, CMD_READ, CMD_START, CMD_STATUS = 0x57, 0x52, 0x53, 0x3F
ACK, NAK = 0xAA, 0xEE


class HostBridge(wiring.Component):
    """UART ``rx``/``tx`` to the bus initiator ``bus``, a ``start`` pulse and ``busy`` input.

    ``divisor`` is the UART's clock cycles per bit.
    """

    def __init__(self, divisor: int):
        self._divisor = divisor
        self._rx = UARTRx(divisor)
        self._tx = UARTTx(divisor)
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "bus": Out(BusSignature()),
                          "start": Out(1), "busy": In(1)})

    @property
    def divisor(self) -> int:
        return self._divisor

    def elaborate(self, platform):
        m = Module()
        m.submodules.uart_rx = rx = self._rx
        m.submodules.uart_tx = tx = self._tx
        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx)]

        cmd = Signal(8)
        addr = Signal(16)
        wdata = Signal(32)
        need = Signal(range(7))      # request bytes still to receive
        got = Signal(range(7))
        reply = Signal(40)           # response bytes, sent LSB first
        reply_len = Signal(range(6))

        m.d.comb += tx.i.payload.eq(reply[:8])
        with m.FSM():
            with m.State("CMD"):
                m.d.comb += rx.o.ready.eq(1)
                with m.If(rx.o.valid):
                    m.d.sync += [cmd.eq(rx.o.payload), got.eq(0)]
                    with m.Switch(rx.o.payload):
                        with m.Case(CMD_WRITE):
                            m.d.sync += need.eq(6)
                            m.next = "ARGS"
                        with m.Case(CMD_READ):
                            m.d.sync += need.eq(2)
                            m.next = "ARGS"
                        with m.Case(CMD_START):
                            m.d.comb += self.start.eq(1)
                            m.d.sync += [reply.eq(ACK), reply_len.eq(1)]
                            m.next = "REPLY"
                        with m.Case(CMD_STATUS):
                            m.d.sync += [reply.eq(ACK | self.busy << 8), reply_len.eq(2)]
                            m.next = "REPLY"
                        with m.Default():
                            m.d.sync += [reply.eq(NAK), reply_len.eq(1)]
                            m.next = "REPLY"
            with m.State("ARGS"):
                m.d.comb += rx.o.ready.eq(1)
                with m.If(rx.o.valid):
                    # Shift each byte in from the top of {wdata, addr}: after a write's
                    # 6 bytes addr and wdata hold its fields, after a read's 2 bytes
                    # wdata[16:] holds the address.
                    m.d.sync += [wdata.eq(rx.o.payload << 24 | wdata >> 8),
                                 addr.eq(wdata[:8] << 8 | addr >> 8), got.eq(got + 1)]
                    with m.If(got + 1 == need):
                        m.next = "BUS"
            with m.State("BUS"):
                m.d.comb += self.bus.addr.eq(Mux(cmd == CMD_WRITE, addr, wdata[16:]))
                with m.If(cmd == CMD_WRITE):
                    m.d.comb += [self.bus.w_en.eq(1), self.bus.w_data.eq(wdata)]
                with m.Else():
                    m.d.comb += self.bus.r_en.eq(1)
                m.next = "WAIT"
            with m.State("WAIT"):
                # One cycle for a one-cycle target; a slow one holds `ready` low longer.
                with m.If(self.bus.ready):
                    with m.If(cmd == CMD_WRITE):
                        m.d.sync += [reply.eq(ACK), reply_len.eq(1)]
                    with m.Else():
                        m.d.sync += [reply.eq(ACK | self.bus.r_data << 8), reply_len.eq(5)]
                    m.next = "REPLY"
            with m.State("REPLY"):
                m.d.comb += tx.i.valid.eq(1)
                with m.If(tx.i.ready):
                    m.d.sync += [reply.eq(reply >> 8), reply_len.eq(reply_len - 1)]
                    with m.If(reply_len == 1):
                        m.next = "CMD"
        return m
