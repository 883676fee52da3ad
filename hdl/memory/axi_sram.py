"""Multi-port on-chip SRAM behind AXI4 slave ports."""

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In

from hdl.bus import (
    RESP_DECERR,
    RESP_OKAY,
    RESP_SLVERR,
    AXI4Signature,
    connect_flat,
    flat_members,
)

from .round_robin import round_robin

__all__ = ["AXI4SRAM", "AXI4SRAMTop", "make_axi_sram_top"]

BURST_FIXED, BURST_INCR, BURST_WRAP = 0, 1, 2


class AXI4SRAM(wiring.Component):
    """``size_bytes`` of SRAM (one ``Memory`` of ``data_width``-bit words) shared by
    ``ports`` AXI4 slave interfaces ``s0 .. s{ports-1}``.

    One burst is served at a time, start to finish; the next is chosen round-robin
    over every port's AR and AW channel (so no port or direction starves, and beats
    of one port are never reordered). Reads stream one beat per cycle; writes take
    one W beat per cycle with full WSTRB and answer B after the last beat.
    FIXED and INCR bursts of any size up to the bus width and 1..256 beats are
    supported; a burst that reaches past ``size_bytes`` answers DECERR (reads return
    zero, writes change nothing); WRAP bursts and sizes wider than the bus answer
    SLVERR the same way.
    """

    def __init__(self, size_bytes: int, data_width: int, *, ports: int = 2,
                 addr_width: int = 32, id_width: int = 4):
        beat_bytes = data_width // 8
        if size_bytes <= 0 or size_bytes % beat_bytes:
            raise ValueError(f"size_bytes {size_bytes} must be a positive multiple of the "
                             f"{beat_bytes}-byte beat")
        if size_bytes > 1 << addr_width:
            raise ValueError(f"size_bytes {size_bytes} does not fit {addr_width}-bit addresses")
        if ports < 1:
            raise ValueError("an SRAM needs at least one port")
        self.size_bytes, self.data_width, self.ports = size_bytes, data_width, ports
        self.axi_signature = AXI4Signature(addr_width=addr_width, data_width=data_width,
                                           id_width=id_width)
        super().__init__({f"s{p}": In(self.axi_signature) for p in range(ports)})

    def elaborate(self, platform):
        m = Module()
        sig = self.axi_signature
        beat_bytes = self.data_width // 8
        shift = (beat_bytes - 1).bit_length()
        depth = self.size_bytes // beat_bytes
        ports = [getattr(self, f"s{p}") for p in range(self.ports)]

        m.submodules.memory = memory = Memory(shape=self.data_width, depth=depth, init=[])
        read_port = memory.read_port()
        write_port = memory.write_port(granularity=8)

        # requester 2p is port p's AR channel, 2p+1 its AW channel
        requests = []
        for port in ports:
            requests += [port.arvalid, port.awvalid]
        last_grant = Signal(range(len(requests)))
        port_sel = Signal(range(self.ports))
        burst_id = Signal(sig.id_width)
        address = Signal(sig.addr_width)
        increment = Signal(range(beat_bytes + 1))
        remaining = Signal(9)        # beats still to read out / write in
        resp = Signal(2)
        rvalid = Signal()
        rlast = Signal()

        with m.FSM():
            with m.State("IDLE"):
                grant_any, grant = round_robin(m, requests, last_grant, name="axi_sram_rr")
                with m.If(grant_any):
                    m.d.sync += last_grant.eq(grant)
                for index in range(len(requests)):
                    port = ports[index // 2]
                    is_write = index % 2 == 1
                    prefix = "aw" if is_write else "ar"
                    a_id, a_addr, a_len, a_size, a_burst = (
                        getattr(port, prefix + field)
                        for field in ("id", "addr", "len", "size", "burst"))
                    with m.If(grant_any & (grant == index)):
                        m.d.comb += getattr(port, prefix + "ready").eq(1)
                        beats = a_len + 1
                        span = Mux(a_burst == BURST_FIXED, 1, beats) << a_size
                        # an unaligned first beat ends at the next size boundary
                        end = (a_addr & ~((Const(1, sig.addr_width) << a_size) - 1)) + span
                        m.d.sync += [
                            port_sel.eq(index // 2), burst_id.eq(a_id), address.eq(a_addr),
                            increment.eq(Mux(a_burst == BURST_FIXED, 0, 1 << a_size)),
                            remaining.eq(beats),
                        ]
                        with m.If((a_burst == BURST_WRAP) | (a_burst == 3) | (a_size > shift)):
                            m.d.sync += resp.eq(RESP_SLVERR)
                        with m.Elif(end > self.size_bytes):
                            m.d.sync += resp.eq(RESP_DECERR)
                        with m.Else():
                            m.d.sync += resp.eq(RESP_OKAY)
                        m.next = "WRITE" if is_write else "READ"

            with m.State("READ"):
                # read_port.data is the beat on R; it holds while R stalls (en low)
                rready = Signal()
                for p, port in enumerate(ports):
                    with m.If(port_sel == p):
                        m.d.comb += [
                            rready.eq(port.rready), port.rvalid.eq(rvalid),
                            port.rdata.eq(Mux(resp == RESP_OKAY, read_port.data, 0)),
                            port.rresp.eq(resp), port.rid.eq(burst_id), port.rlast.eq(rlast),
                        ]
                advance = ~rvalid | rready
                m.d.comb += [read_port.en.eq(advance), read_port.addr.eq(address >> shift)]
                with m.If(advance):
                    with m.If(remaining != 0):
                        m.d.sync += [rvalid.eq(1), rlast.eq(remaining == 1),
                                     remaining.eq(remaining - 1),
                                     address.eq(address + increment)]
                    with m.Else():
                        m.d.sync += rvalid.eq(0)
                        m.next = "IDLE"

            with m.State("WRITE"):
                for p, port in enumerate(ports):
                    with m.If(port_sel == p):
                        m.d.comb += port.wready.eq(1)
                        with m.If(port.wvalid):
                            with m.If(resp == RESP_OKAY):
                                m.d.comb += [write_port.en.eq(port.wstrb),
                                             write_port.addr.eq(address >> shift),
                                             write_port.data.eq(port.wdata)]
                            m.d.sync += [remaining.eq(remaining - 1),
                                         address.eq(address + increment)]
                            with m.If(remaining == 1):
                                m.next = "RESPOND"

            with m.State("RESPOND"):
                for p, port in enumerate(ports):
                    with m.If(port_sel == p):
                        m.d.comb += [port.bvalid.eq(1), port.bid.eq(burst_id),
                                     port.bresp.eq(resp)]
                        with m.If(port.bready):
                            m.next = "IDLE"
        return m


class AXI4SRAMTop(wiring.Component):
    """:class:`AXI4SRAM` with flat ``s{p}_axi_*`` ports (cocotbext-axi naming)."""

    def __init__(self, size_bytes: int, data_width: int, **options):
        self._sram = AXI4SRAM(size_bytes, data_width, **options)
        members = {}
        for p in range(self._sram.ports):
            members.update(flat_members(f"s{p}_axi", self._sram.axi_signature))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.sram = sram = self._sram
        for p in range(sram.ports):
            connect_flat(m, self, f"s{p}_axi", getattr(sram, f"s{p}"))
        return m


def make_axi_sram_top(size_bytes: int = 16384, data_width: int = 128, ports: int = 2,
                      addr_width: int = 32, id_width: int = 4) -> AXI4SRAMTop:
    """``Design`` factory: ``hdl.memory.axi_sram:make_axi_sram_top(size_bytes=16384)``."""
    return AXI4SRAMTop(size_bytes, data_width, ports=ports, addr_width=addr_width,
                       id_width=id_width)
