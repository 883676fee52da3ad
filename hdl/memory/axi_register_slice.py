"""AXI4 register slice: a full (skid) buffer on each of the five channels."""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hdl.bus import AXI4Signature, connect_flat, flat_members

__all__ = ["AXI4RegisterSlice", "AXI4RegisterSliceTop", "make_axi_register_slice_top",
           "CHANNELS"]

# channel: (valid, ready, payload fields, True if the master drives it)
CHANNELS = {
    "aw": ("awvalid", "awready", ("awid", "awaddr", "awlen", "awsize", "awburst"), True),
    "w": ("wvalid", "wready", ("wdata", "wstrb", "wlast"), True),
    "b": ("bvalid", "bready", ("bid", "bresp"), False),
    "ar": ("arvalid", "arready", ("arid", "araddr", "arlen", "arsize", "arburst"), True),
    "r": ("rvalid", "rready", ("rid", "rdata", "rresp", "rlast"), False),
}


def _skid_buffer(m, name: str, source, sink, valid: str, ready: str, fields) -> None:
    """Move one channel from ``source`` to ``sink`` through two registers.

    ``main`` drives the sink; ``skid`` catches the beat the source sent in the cycle the
    sink stalled (the source saw ready, registered, one cycle late). Every output is a
    register: ``source.ready`` is ``~skid_valid``, ``sink.valid``/payload are ``main``.
    """
    payload_in = Cat(*(getattr(source, f) for f in fields))
    main = Signal(len(payload_in), name=f"{name}_main")
    main_valid = Signal(name=f"{name}_main_valid")
    skid = Signal(len(payload_in), name=f"{name}_skid")
    skid_valid = Signal(name=f"{name}_skid_valid")
    source_valid = getattr(source, valid)
    m.d.comb += [getattr(source, ready).eq(~skid_valid), getattr(sink, valid).eq(main_valid),
                 Cat(*(getattr(sink, f) for f in fields)).eq(main)]
    with m.If(~main_valid | getattr(sink, ready)):
        with m.If(skid_valid):
            m.d.sync += [main.eq(skid), main_valid.eq(1), skid_valid.eq(0)]
        with m.Else():
            m.d.sync += main_valid.eq(source_valid)
            with m.If(source_valid):
                m.d.sync += main.eq(payload_in)
    with m.Elif(source_valid & ~skid_valid):
        m.d.sync += [skid.eq(payload_in), skid_valid.eq(1)]


class AXI4RegisterSlice(wiring.Component):
    """An AXI4 slave port ``s`` passed to an AXI4 master port ``m`` through a full register
    slice on AW, W, B, AR and R.

    Each channel is a two-entry skid buffer: a beat per cycle when nothing stalls, one
    cycle of latency per direction, and no combinational path from any input to any
    output (valids, payloads and readies all come straight from flip-flops), so it cuts
    every timing path between the two sides. Transactions, IDs and ordering pass
    unchanged.
    """

    def __init__(self, signature: AXI4Signature):
        self.axi_signature = signature
        super().__init__({"s": In(signature), "m": Out(signature)})

    def elaborate(self, platform):
        m = Module()
        for name, (valid, ready, fields, master_driven) in CHANNELS.items():
            source, sink = (self.s, self.m) if master_driven else (self.m, self.s)
            _skid_buffer(m, name, source, sink, valid, ready, fields)
        return m


class AXI4RegisterSliceTop(wiring.Component):
    """:class:`AXI4RegisterSlice` with flat ``s_axi_*`` (slave) and ``m_axi_*`` (master)
    ports in cocotbext-axi naming."""

    def __init__(self, signature: AXI4Signature):
        self._slice = AXI4RegisterSlice(signature)
        members = flat_members("s_axi", signature)
        members.update(flat_members("m_axi", signature, slave=False))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.slice = reg_slice = self._slice
        connect_flat(m, self, "s_axi", reg_slice.s)
        connect_flat(m, self, "m_axi", reg_slice.m, slave=False)
        return m


def make_axi_register_slice_top(data_width: int = 64, addr_width: int = 16,
                                id_width: int = 4) -> AXI4RegisterSliceTop:
    """``Design`` factory: ``hdl.memory.axi_register_slice:make_axi_register_slice_top``."""
    return AXI4RegisterSliceTop(AXI4Signature(addr_width=addr_width, data_width=data_width,
                                              id_width=id_width))
