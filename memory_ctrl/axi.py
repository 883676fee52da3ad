"""AXI4 (full) signature in Amaranth wiring, and flat port naming for cocotbext-axi.

Amaranth flattens a nested interface as ``<member>__<field>``; cocotbext-axi's
``AxiBus.from_prefix(dut, "s_axi")`` looks for ``s_axi_awaddr`` etc. Top-level
components therefore declare flat members with :func:`flat_members` and wire them
to a nested interface with :func:`connect_flat`.
"""

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["AXI4Signature", "BURST_INCR", "RESP_OKAY", "RESP_SLVERR", "RESP_DECERR",
           "flat_members", "connect_flat"]

BURST_INCR = 1
RESP_OKAY, RESP_SLVERR, RESP_DECERR = 0, 2, 3

# field: (width or None for data-dependent, driven by the master)
_FIELDS = {
    "awid": ("id", True), "awaddr": ("addr", True), "awlen": (8, True), "awsize": (3, True),
    "awburst": (2, True), "awvalid": (1, True), "awready": (1, False),
    "wdata": ("data", True), "wstrb": ("strb", True), "wlast": (1, True), "wvalid": (1, True),
    "wready": (1, False),
    "bid": ("id", False), "bresp": (2, False), "bvalid": (1, False), "bready": (1, True),
    "arid": ("id", True), "araddr": ("addr", True), "arlen": (8, True), "arsize": (3, True),
    "arburst": (2, True), "arvalid": (1, True), "arready": (1, False),
    "rid": ("id", False), "rdata": ("data", False), "rresp": (2, False), "rlast": (1, False),
    "rvalid": (1, False), "rready": (1, True),
}


def _widths(addr_width, data_width, id_width):
    sizes = {"id": id_width, "addr": addr_width, "data": data_width, "strb": data_width // 8}
    return {name: sizes.get(width, width) for name, (width, _) in _FIELDS.items()}


class AXI4Signature(wiring.Signature):
    """AXI4 as seen from the master (``Out``: driven by the master); ``.flip()`` for a slave."""

    def __init__(self, *, addr_width: int, data_width: int, id_width: int):
        if data_width < 8 or data_width & (data_width - 1):
            raise ValueError(f"AXI data width must be a power of two >= 8, not {data_width}")
        self.addr_width, self.data_width, self.id_width = addr_width, data_width, id_width
        widths = _widths(addr_width, data_width, id_width)
        super().__init__({name: (Out if master else In)(widths[name])
                          for name, (_, master) in _FIELDS.items()})


def flat_members(prefix: str, signature: AXI4Signature, slave: bool = True) -> dict:
    """Members ``<prefix>_<field>`` for a top-level component (a slave port by default)."""
    widths = _widths(signature.addr_width, signature.data_width, signature.id_width)
    members = {}
    for name, (_, master) in _FIELDS.items():
        driven_here = master != slave
        members[f"{prefix}_{name}"] = (Out if driven_here else In)(widths[name])
    return members


def connect_flat(m, top, prefix: str, interface, slave: bool = True) -> None:
    """Wire flat ports ``<prefix>_*`` of ``top`` to the nested AXI ``interface``.

    ``slave=True``: ``interface`` is a slave inside ``top`` (the port faces a master).
    """
    for name, (_, master) in _FIELDS.items():
        flat = getattr(top, f"{prefix}_{name}")
        inner = getattr(interface, name)
        if master == slave:
            m.d.comb += inner.eq(flat)
        else:
            m.d.comb += flat.eq(inner)
