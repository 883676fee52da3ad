"""The flit: the unit every vector/scalar fabric link carries.

Fields from bit 0 in this order: ``data`` (data_width), ``flow`` (flow_bits, the
static route ID), ``seq`` (seq_bits, the per-stream sequence number used to
reorder many-to-one streams), ``last`` (1, end of a packet or stream).
"""

from amaranth.lib import data

__all__ = ["flit_layout"]


def flit_layout(data_width: int, flow_bits: int = 6, seq_bits: int = 8) -> data.StructLayout:
    """The flit layout ``{data, flow, seq, last}`` (bit 0 is ``data`` bit 0)."""
    for name, value in (("data_width", data_width), ("flow_bits", flow_bits),
                        ("seq_bits", seq_bits)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, not {value!r}")
    return data.StructLayout({
        "data": data_width,
        "flow": flow_bits,
        "seq": seq_bits,
        "last": 1,
    })
