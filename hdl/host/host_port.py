"""Host port: the AXI4-Lite register file through which the host drives the AGCU."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.agcu.commands import command_layout
from hdl.bus import AXI4LiteSignature, connect_flat, flat_members

__all__ = ["HostPort", "HostPortTop", "make_host_port_top", "REGISTERS", "COPY_REGISTERS",
           "HOST_PORT_ID", "COUNTER_BASE", "copy_request_layout"]

HOST_PORT_ID = 0x52445501  # "RDU", version 1
COUNTER_BASE = 0x100
#: byte offsets of the named registers
REGISTERS = {"ID": 0x00, "STATUS": 0x04, "CMD_OP": 0x08, "CMD_ADDR": 0x0C, "CMD_LENGTH": 0x10,
             "DOORBELL": 0x14, "KERNELS_DONE": 0x18, "COMMANDS_DONE": 0x1C,
             "KERNEL_CYCLES": 0x20, "CYCLE": 0x24,
             "COPY_SRC": 0x28, "COPY_DST": 0x2C, "COPY_LENGTH": 0x30, "COPY_GO": 0x34,
             "COPY_STATUS": 0x38, "COPY_CYCLES": 0x3C, "PROGRAM_CYCLES": 0x40}
#: the registers that exist only in a port built with ``copy=True``
COPY_REGISTERS = ("COPY_SRC", "COPY_DST", "COPY_LENGTH", "COPY_GO", "COPY_STATUS",
                  "COPY_CYCLES")
RESP_OKAY, RESP_SLVERR = 0, 2


def copy_request_layout() -> data.StructLayout:
    """A copy request as the host wrote it: device byte addresses and a length in bytes."""
    return data.StructLayout({"src": 32, "dst": 32, "length": 32})


class HostPort(wiring.Component):
    """AXI4-Lite slave (``axil``, 32-bit data, ``addr_width``-bit byte addresses).

    Registers (byte offsets; reads of write-only/unmapped return 0):

    ====== ============= === ==========================================================
    0x00   ID            R   ``HOST_PORT_ID`` (0x52445501)
    0x04   STATUS        R   bit0 ``busy``, bit1 ``error``
    0x08   CMD_OP        RW  bits 3:0: the command opcode (``hdl.agcu.commands.Command``)
    0x0C   CMD_ADDR      RW  command byte address
    0x10   CMD_LENGTH    RW  command length
    0x14   DOORBELL      W   any write pushes {CMD_OP, CMD_ADDR, CMD_LENGTH} into ``cmd``;
                             the B response waits until ``cmd`` accepted it. Reads 0.
    0x18   KERNELS_DONE  R   ``kernels_done``
    0x1C   COMMANDS_DONE R   ``commands_done``
    0x20   KERNEL_CYCLES R   ``kernel_cycles``
    0x24   CYCLE         R   free-running cycle counter (low 32 bits)
    0x28   COPY_SRC      RW  copy source device address         (only with ``copy=True``)
    0x2C   COPY_DST      RW  copy destination device address    (only with ``copy=True``)
    0x30   COPY_LENGTH   RW  copy length in bytes               (only with ``copy=True``)
    0x34   COPY_GO       W   any write pushes {COPY_SRC, COPY_DST, COPY_LENGTH} into
                             ``copy``; the B response waits until ``copy`` accepted it
                             (the direction follows from the addresses). Reads 0.
    0x38   COPY_STATUS   R   bit0 ``copy_busy``, bit1 ``memory_error`` (sticky DRAM timing
                             violation), bits 15:8 ``copy_errors`` mod 256, bits 31:16
                             ``copy_copies`` mod 65536
    0x3C   COPY_CYCLES   R   ``copy_cycles``: cycles of the last copy
    0x40   PROGRAM_CYCLES R  ``program_cycles``: cycles spent loading programs (mod 2**32)
    0x100  COUNTER[i]    R   ``counters[i]`` at 0x100 + 4*i, i < ``counters``
    ====== ============= === ==========================================================

    Writes honour WSTRB; writes to read-only registers are ignored (OKAY). Any
    other address (the COPY_* registers too, without ``copy``) answers SLVERR
    (reads return 0). One read and one write are handled at a time each; AW and W
    are taken together.
    """

    def __init__(self, counters: int, addr_width: int = 12, copy: bool = False):
        if counters < 0 or COUNTER_BASE + 4 * counters > 1 << addr_width:
            raise ValueError(f"{counters} counters do not fit {addr_width}-bit addresses")
        self.counter_count = counters
        self.addr_width = addr_width
        self.has_copy = copy
        members = {
            "axil": In(AXI4LiteSignature(addr_width, 32)),
            "cmd": Out(stream.Signature(command_layout())),
            "busy": In(1),
            "error": In(1),
            "kernels_done": In(32),
            "commands_done": In(32),
            "kernel_cycles": In(32),
            "program_cycles": In(32),
            "counters": In(data.ArrayLayout(32, counters)),
        }
        if copy:
            members.update({
                "copy": Out(stream.Signature(copy_request_layout())),
                "copy_busy": In(1),
                "copy_copies": In(32),
                "copy_errors": In(32),
                "copy_cycles": In(32),
                "memory_error": In(1),
            })
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        bus = self.axil
        cmd_op, cmd_addr, cmd_length = Signal(4), Signal(32), Signal(32)
        cycle = Signal(32)
        m.d.sync += cycle.eq(cycle + 1)
        m.d.comb += [self.cmd.payload.op.eq(cmd_op), self.cmd.payload.addr.eq(cmd_addr),
                     self.cmd.payload.length.eq(cmd_length)]
        # a COPY_GO write waits (``copying``) for ``copy`` to take the request
        copying = Signal() if self.has_copy else Const(0, 1)
        if self.has_copy:
            copy_src, copy_dst, copy_length = Signal(32), Signal(32), Signal(32)
            m.d.comb += [self.copy.payload.src.eq(copy_src), self.copy.payload.dst.eq(copy_dst),
                         self.copy.payload.length.eq(copy_length), self.copy.valid.eq(copying)]

        # ---- reads: AR -> one cycle -> R
        rdata, rresp, rvalid = Signal(32), Signal(2), Signal()
        m.d.comb += [bus.rdata.eq(rdata), bus.rresp.eq(rresp), bus.rvalid.eq(rvalid),
                     bus.arready.eq(~rvalid)]
        with m.If(rvalid & bus.rready):
            m.d.sync += rvalid.eq(0)
        with m.If(bus.arvalid & ~rvalid):
            word = bus.araddr >> 2
            m.d.sync += [rvalid.eq(1), rresp.eq(RESP_OKAY), rdata.eq(0)]
            readable = {
                "ID": HOST_PORT_ID, "STATUS": Cat(self.busy, self.error),
                "CMD_OP": cmd_op, "CMD_ADDR": cmd_addr, "CMD_LENGTH": cmd_length,
                "DOORBELL": 0, "KERNELS_DONE": self.kernels_done,
                "COMMANDS_DONE": self.commands_done, "KERNEL_CYCLES": self.kernel_cycles,
                "CYCLE": cycle, "PROGRAM_CYCLES": self.program_cycles,
            }
            if self.has_copy:
                readable.update({
                    "COPY_SRC": copy_src, "COPY_DST": copy_dst, "COPY_LENGTH": copy_length,
                    "COPY_GO": 0,
                    "COPY_STATUS": Cat(self.copy_busy, self.memory_error, Const(0, 6),
                                       self.copy_errors[:8], self.copy_copies[:16]),
                    "COPY_CYCLES": self.copy_cycles,
                })
            with m.Switch(word):
                for name, value in readable.items():
                    with m.Case(REGISTERS[name] >> 2):
                        m.d.sync += rdata.eq(value)
                for i in range(self.counter_count):
                    with m.Case((COUNTER_BASE >> 2) + i):
                        m.d.sync += rdata.eq(self.counters[i])
                with m.Default():
                    m.d.sync += rresp.eq(RESP_SLVERR)

        # ---- writes: AW + W together -> (doorbell: wait for cmd) -> B
        bvalid, bresp, ringing = Signal(), Signal(2), Signal()
        take = bus.awvalid & bus.wvalid & ~bvalid & ~ringing & ~copying
        m.d.comb += [bus.awready.eq(take), bus.wready.eq(take), bus.bvalid.eq(bvalid),
                     bus.bresp.eq(bresp), self.cmd.valid.eq(ringing)]
        with m.If(bvalid & bus.bready):
            m.d.sync += bvalid.eq(0)
        with m.If(ringing & self.cmd.ready):
            m.d.sync += [ringing.eq(0), bvalid.eq(1)]
        if self.has_copy:
            with m.If(copying & self.copy.ready):
                m.d.sync += [copying.eq(0), bvalid.eq(1)]

        def merged(register):
            """``register`` with the bytes WSTRB enables replaced by WDATA."""
            old = Cat(register, Const(0, 32 - len(register)))
            return Cat(*(Mux(bus.wstrb[b], bus.wdata[8 * b:8 * b + 8], old[8 * b:8 * b + 8])
                         for b in range(4)))[:len(register)]

        with m.If(take):
            m.d.sync += bresp.eq(RESP_OKAY)
            word = bus.awaddr >> 2
            read_only = ["ID", "STATUS", "KERNELS_DONE", "COMMANDS_DONE", "KERNEL_CYCLES",
                         "CYCLE", "PROGRAM_CYCLES"]
            if self.has_copy:
                read_only += ["COPY_STATUS", "COPY_CYCLES"]
            with m.Switch(word):
                with m.Case(REGISTERS["CMD_OP"] >> 2):
                    m.d.sync += [cmd_op.eq(merged(cmd_op)), bvalid.eq(1)]
                with m.Case(REGISTERS["CMD_ADDR"] >> 2):
                    m.d.sync += [cmd_addr.eq(merged(cmd_addr)), bvalid.eq(1)]
                with m.Case(REGISTERS["CMD_LENGTH"] >> 2):
                    m.d.sync += [cmd_length.eq(merged(cmd_length)), bvalid.eq(1)]
                with m.Case(REGISTERS["DOORBELL"] >> 2):
                    m.d.sync += ringing.eq(1)
                if self.has_copy:
                    for name, register in (("COPY_SRC", copy_src), ("COPY_DST", copy_dst),
                                           ("COPY_LENGTH", copy_length)):
                        with m.Case(REGISTERS[name] >> 2):
                            m.d.sync += [register.eq(merged(register)), bvalid.eq(1)]
                    with m.Case(REGISTERS["COPY_GO"] >> 2):
                        m.d.sync += copying.eq(1)
                with m.Case(*(REGISTERS[name] >> 2 for name in read_only),
                            *((COUNTER_BASE >> 2) + i for i in range(self.counter_count))):
                    m.d.sync += bvalid.eq(1)
                with m.Default():
                    m.d.sync += [bresp.eq(RESP_SLVERR), bvalid.eq(1)]
        return m


class HostPortTop(wiring.Component):
    """:class:`HostPort` with flat ``s_axil_*`` ports (cocotbext-axi naming)."""

    def __init__(self, counters: int, addr_width: int = 12, copy: bool = False):
        self._port = HostPort(counters, addr_width, copy)
        members = flat_members("s_axil", AXI4LiteSignature(addr_width, 32))
        for name, member in self._port.signature.members.items():
            if name != "axil":
                members[name] = member
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.host_port = port = self._port
        connect_flat(m, self, "s_axil", port.axil)
        for name, member in port.signature.members.items():
            if name == "axil":
                continue
            if member.is_signature:
                wiring.connect(m, wiring.flipped(getattr(self, name)), getattr(port, name))
            elif member.flow == In:
                m.d.comb += getattr(port, name).eq(getattr(self, name))
            else:
                m.d.comb += getattr(self, name).eq(getattr(port, name))
        return m


def make_host_port_top(counters: int = 4, addr_width: int = 12,
                       copy: bool = False) -> HostPortTop:
    """``Design`` factory: ``hdl.host.host_port:make_host_port_top(counters=4)``."""
    return HostPortTop(counters, addr_width, copy)
