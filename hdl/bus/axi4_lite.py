"""AXI4-Lite signature in Amaranth wiring."""

from .flat_ports import FieldTableSignature

__all__ = ["AXI4LiteSignature"]

# field: (width or width key, driven by the master)
_FIELDS = {
    "awaddr": ("addr", True), "awprot": (3, True), "awvalid": (1, True), "awready": (1, False),
    "wdata": ("data", True), "wstrb": ("strb", True), "wvalid": (1, True), "wready": (1, False),
    "bresp": (2, False), "bvalid": (1, False), "bready": (1, True),
    "araddr": ("addr", True), "arprot": (3, True), "arvalid": (1, True), "arready": (1, False),
    "rdata": ("data", False), "rresp": (2, False), "rvalid": (1, False), "rready": (1, True),
}


class AXI4LiteSignature(FieldTableSignature):
    """AXI4-Lite as seen from the master (``Out``: driven by the master); ``.flip()``
    (or ``In(...)``) for a slave."""

    def __init__(self, addr_width: int, data_width: int = 32):
        if data_width not in (32, 64):
            raise ValueError(f"AXI4-Lite data width must be 32 or 64, not {data_width}")
        self.addr_width, self.data_width = addr_width, data_width
        super().__init__(_FIELDS, {"addr": addr_width, "data": data_width,
                                   "strb": data_width // 8})
