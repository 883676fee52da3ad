"""The host bridge's bus as an AXI4-Lite master and an AXI4 master (an RDU's host port).

Bus word map (16-bit word addresses, 32-bit words):

===============  ==========================================================
bus address      target
===============  ==========================================================
0x0000 - 0x3FFF  AXI4-Lite, byte address ``4 * word`` (the host registers; the
                 slave sees the low ``lite_addr_width`` bits)
0x4000           MAGIC (read-only, :data:`MAGIC`): an RDU is behind the bridge
0x4001           INFO (read-only): AXI4 data width in bits | Lite address width << 16
0x4002           ERRORS (read-only): responses other than OKAY since reset
0x8000 - 0xFFFF  AXI4, 32-bit word of device memory at byte ``4 * (word - 0x8000)``
===============  ==========================================================

Each bus access is one single-beat AXI transaction. A device-memory word is one
full-width beat at the beat-aligned address: a write's ``wstrb`` selects the
word's four bytes, a read picks the word out of the beat. The bus waits
(``ready`` low) until the response has arrived; other addresses answer at once
(writes there are ignored, reads return 0).
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hdl.bus import BURST_INCR, RESP_OKAY, AXI4LiteSignature, AXI4Signature

from .bus import BusSignature

__all__ = ["AXIBusMaster", "LITE_BASE", "INFO_BASE", "MEMORY_BASE", "INFO", "MAGIC"]

LITE_BASE, INFO_BASE, MEMORY_BASE = 0x0000, 0x4000, 0x8000
INFO = {"MAGIC": 0, "INFO": 1, "ERRORS": 2}
MAGIC = 0x52445541  # "RDUA"


class AXIBusMaster(wiring.Component):
    """Bus target (``bus``) that turns each access into one AXI4-Lite (``axil``) or
    AXI4 (``axi``, ``data_width`` bits, ``addr_width``/``id_width`` as the slave's)
    transaction; see the module docstring for the address map."""

    def __init__(self, *, data_width: int, lite_addr_width: int = 12, addr_width: int = 32,
                 id_width: int = 4):
        if data_width < 32 or data_width & (data_width - 1):
            raise ValueError(f"AXI4 data width must be a power of two >= 32, not {data_width}")
        if not 2 < lite_addr_width <= 16:
            raise ValueError(f"AXI4-Lite address width must be 3 to 16, not {lite_addr_width}")
        self._data_width, self._lite_addr_width = data_width, lite_addr_width
        super().__init__({
            "bus": In(BusSignature()),
            "axil": Out(AXI4LiteSignature(addr_width=lite_addr_width)),
            "axi": Out(AXI4Signature(addr_width=addr_width, data_width=data_width,
                                     id_width=id_width)),
        })

    def elaborate(self, platform):
        m = Module()
        bus, lite, axi = self.bus, self.axil, self.axi
        beat_bytes = self._data_width // 8
        words_per_beat = self._data_width // 32

        is_write = Signal()
        byte_addr = Signal(18)            # byte address inside the selected window
        w_data = Signal(32)
        r_data = Signal(32)
        errors = Signal(32)
        addr_done = Signal()              # the address channel's handshake happened
        data_done = Signal()              # the write data channel's handshake happened
        word_in_beat = byte_addr[2:2 + (words_per_beat - 1).bit_length()]
        m.d.comb += bus.r_data.eq(r_data)

        # Both masters' request fields come straight from the latched access.
        m.d.comb += [
            lite.awaddr.eq(byte_addr), lite.araddr.eq(byte_addr), lite.wdata.eq(w_data),
            lite.wstrb.eq(0xF),
            axi.awaddr.eq(byte_addr & ~(beat_bytes - 1)), axi.araddr.eq(byte_addr &
                                                                        ~(beat_bytes - 1)),
            axi.awsize.eq((beat_bytes - 1).bit_length()), axi.arsize.eq(
                (beat_bytes - 1).bit_length()),
            axi.awburst.eq(BURST_INCR), axi.arburst.eq(BURST_INCR),
            axi.wdata.eq(w_data.replicate(words_per_beat)), axi.wlast.eq(1),
            axi.wstrb.eq(0xF << (4 * word_in_beat) if words_per_beat > 1 else 0xF),
        ]

        with m.FSM() as fsm:
            # Explicitly: left undriven, `ready` would take its init value 1 in every state.
            m.d.comb += bus.ready.eq(fsm.ongoing("IDLE"))
            with m.State("IDLE"):
                with m.If(bus.w_en | bus.r_en):
                    window = bus.addr[14:16]
                    m.d.sync += [is_write.eq(bus.w_en), w_data.eq(bus.w_data),
                                 byte_addr.eq(bus.addr[:14] << 2),
                                 addr_done.eq(0), data_done.eq(0)]
                    with m.Switch(window):
                        with m.Case(0):
                            m.next = "LITE"
                        with m.Case(2, 3):
                            m.d.sync += byte_addr.eq(bus.addr[:15] << 2)
                            m.next = "MEMORY"
                        with m.Default():
                            with m.Switch(bus.addr[:14]):
                                with m.Case(INFO["MAGIC"]):
                                    m.d.sync += r_data.eq(MAGIC)
                                with m.Case(INFO["INFO"]):
                                    m.d.sync += r_data.eq(self._data_width
                                                          | self._lite_addr_width << 16)
                                with m.Case(INFO["ERRORS"]):
                                    m.d.sync += r_data.eq(errors)
                                with m.Default():
                                    m.d.sync += r_data.eq(0)
            self._transaction(m, "LITE", lite, errors, r_data, is_write, addr_done, data_done,
                              lambda rdata: rdata)
            self._transaction(m, "MEMORY", axi, errors, r_data, is_write, addr_done, data_done,
                              lambda rdata: rdata.word_select(word_in_beat, 32))
        return m

    @staticmethod
    def _transaction(m, state, port, errors, r_data, is_write, addr_done, data_done, pick):
        """State ``state``: one write (AW + W, then B) or read (AR, then R) on ``port``."""
        with m.State(state):
            with m.If(is_write):
                m.d.comb += [port.awvalid.eq(~addr_done), port.wvalid.eq(~data_done),
                             port.bready.eq(addr_done & data_done)]
                with m.If(port.awvalid & port.awready):
                    m.d.sync += addr_done.eq(1)
                with m.If(port.wvalid & port.wready):
                    m.d.sync += data_done.eq(1)
                with m.If(port.bready & port.bvalid):
                    with m.If(port.bresp != RESP_OKAY):
                        m.d.sync += errors.eq(errors + 1)
                    m.next = "IDLE"
            with m.Else():
                m.d.comb += [port.arvalid.eq(~addr_done), port.rready.eq(addr_done)]
                with m.If(port.arvalid & port.arready):
                    m.d.sync += addr_done.eq(1)
                with m.If(port.rready & port.rvalid):
                    m.d.sync += r_data.eq(pick(port.rdata))
                    with m.If(port.rresp != RESP_OKAY):
                        m.d.sync += errors.eq(errors + 1)
                    m.next = "IDLE"
