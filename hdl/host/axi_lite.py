"""AXI4-Lite signature in Amaranth wiring, and flat port naming for cocotbext-axi.

``AxiLiteBus.from_prefix(dut, "s_axil")`` looks for ``s_axil_awaddr`` etc.; a
top-level component declares those with :func:`flat_lite_members` and wires them to a
nested interface with :func:`connect_flat_lite` (same pattern as ``memory_ctrl.axi``).
"""

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["AXI4LiteSignature", "flat_lite_members", "connect_flat_lite"]

# field: (width key or width, driven by the master)
_FIELDS = {
    "awaddr": ("addr", True), "awprot": (3, True), "awvalid": (1, True), "awready": (1, False),
    "wdata": ("data", True), "wstrb": ("strb", True), "wvalid": (1, True), "wready": (1, False),
    "bresp": (2, False), "bvalid": (1, False), "bready": (1, True),
    "araddr": ("addr", True), "arprot": (3, True), "arvalid": (1, True), "arready": (1, False),
    "rdata": ("data", False), "rresp": (2, False), "rvalid": (1, False), "rready": (1, True),
}


def _widths(addr_width: int, data_width: int) -> dict:
    sizes = {"addr": addr_width, "data": data_width, "strb": data_width // 8}
    return {name: sizes.get(width, width) for name, (width, _) in _FIELDS.items()}


class AXI4LiteSignature(wiring.Signature):
    """AXI4-Lite as seen from the master (``Out``: driven by the master); ``.flip()``
    (or ``In(...)``) for a slave."""

    def __init__(self, addr_width: int, data_width: int = 32):
        if data_width not in (32, 64):
            raise ValueError(f"AXI4-Lite data width must be 32 or 64, not {data_width}")
        self.addr_width, self.data_width = addr_width, data_width
        widths = _widths(addr_width, data_width)
        super().__init__({name: (Out if master else In)(widths[name])
                          for name, (_, master) in _FIELDS.items()})


def flat_lite_members(prefix: str, signature: AXI4LiteSignature, slave: bool = True) -> dict:
    """Members ``<prefix>_<field>`` for a top-level component (a slave port by default)."""
    widths = _widths(signature.addr_width, signature.data_width)
    return {f"{prefix}_{name}": (Out if master != slave else In)(widths[name])
            for name, (_, master) in _FIELDS.items()}


def connect_flat_lite(m, top, prefix: str, interface, slave: bool = True) -> None:
    """Wire flat ports ``<prefix>_*`` of ``top`` to the nested AXI4-Lite ``interface``."""
    for name, (_, master) in _FIELDS.items():
        flat, inner = getattr(top, f"{prefix}_{name}"), getattr(interface, name)
        if master == slave:
            m.d.comb += inner.eq(flat)
        else:
            m.d.comb += flat.eq(inner)
