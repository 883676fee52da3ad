"""AXI4 (full) signature in Amaranth wiring."""

from .flat_ports import FieldTableSignature

__all__ = ["AXI4Signature", "BURST_INCR", "RESP_OKAY", "RESP_SLVERR", "RESP_DECERR"]

BURST_INCR = 1
RESP_OKAY, RESP_SLVERR, RESP_DECERR = 0, 2, 3

# field: (width or width key, driven by the master)
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


class AXI4Signature(FieldTableSignature):
    """AXI4 as seen from the master (``Out``: driven by the master); ``.flip()`` for a slave."""

    def __init__(self, *, addr_width: int, data_width: int, id_width: int):
        if data_width < 8 or data_width & (data_width - 1):
            raise ValueError(f"AXI data width must be a power of two >= 8, not {data_width}")
        self.addr_width, self.data_width, self.id_width = addr_width, data_width, id_width
        super().__init__(_FIELDS, {"id": id_width, "addr": addr_width, "data": data_width,
                                   "strb": data_width // 8})
