"""Frame format shared by transmitter and receiver (definition: testbench/golden/link.py).

A frame is a header flit (``sop``), ``length`` payload flits and a CRC-32 flit
(``eop``). Data frames carry user words; control frames carry the cumulative ACK
(next sequence number the sender of the control frame expects), a NAK flag and
one cumulative credit word per VC (words the receiver's user has drained).
"""

from amaranth.hdl import C, Cat, Value
from amaranth.lib import data

__all__ = ["KIND_DATA", "KIND_CTRL", "Header", "pack_header", "send_layout", "recv_layout"]

KIND_DATA = 1
KIND_CTRL = 2

Header = data.StructLayout({
    "kind": 2, "vc": 2, "seq": 8, "length": 8, "src": 4, "dst": 4, "nak": 1, "eom": 1,
})


def pack_header(kind, *, vc=0, seq=0, length=0, src=0, dst=0, nak=0, eom=0):
    """A header word (``Header`` bit order) from values or expressions."""
    fields = {"kind": kind, "vc": vc, "seq": seq, "length": length, "src": src, "dst": dst,
              "nak": nak, "eom": eom}
    parts = []
    for name, value in fields.items():
        width = Header.members[name]
        if isinstance(value, int):
            parts.append(C(value, width))
        else:
            value = Value.cast(value)
            parts.append(value[:width] if len(value) >= width
                         else Cat(value, C(0, width - len(value))))
    return Cat(*parts)


def send_layout(width: int) -> data.StructLayout:
    """User send word: destination socket, payload, end of message."""
    return data.StructLayout({"data": width, "dest": 4, "last": 1})


def recv_layout(width: int) -> data.StructLayout:
    """User receive word: source and destination sockets, payload, end of message."""
    return data.StructLayout({"data": width, "src": 4, "dest": 4, "last": 1})
