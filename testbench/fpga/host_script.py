"""Host-side driver of the FPGA host bridge (:mod:`hdl.fpga.host_bridge`).

Written against a byte transport (anything with ``write(data: bytes)`` and
``read(n) -> bytes``), so the same code drives a board over a serial port
(:func:`open_serial`, needs pyserial) and the simulated bridge under cocotb
(a transport that bit-bangs the UART wire).
"""

import struct
import time

import numpy as np

__all__ = ["BridgeClient", "BridgeError", "run_batch", "open_serial", "pack_entries",
           "unpack_entries"]

CMD_WRITE, CMD_READ, CMD_START, CMD_STATUS = 0x57, 0x52, 0x53, 0x3F
ACK, NAK = 0xAA, 0xEE
OUT_BASE, CSR_BASE = 0x4000, 0x8000
CSR = {"DEPTH": 0, "WORDS": 1, "COUNT": 2, "STATUS": 3, "CYCLES": 4, "MAGIC": 5}
MAGIC = 0x52445546


class BridgeError(RuntimeError):
    """The bridge answered something other than the protocol's response."""


class BridgeClient:
    """Word reads and writes, start and status over a byte ``transport``."""

    def __init__(self, transport):
        self.transport = transport

    def _expect_ack(self, what: str) -> None:
        got = self.transport.read(1)
        if got != bytes([ACK]):
            raise BridgeError(f"{what}: expected ACK 0x{ACK:02x}, got {got.hex() or 'nothing'}")

    def write(self, addr: int, value: int) -> None:
        self.transport.write(struct.pack("<BHI", CMD_WRITE, addr, value & 0xFFFFFFFF))
        self._expect_ack(f"write 0x{addr:04x}")

    def read(self, addr: int) -> int:
        self.transport.write(struct.pack("<BH", CMD_READ, addr))
        self._expect_ack(f"read 0x{addr:04x}")
        return struct.unpack("<I", self.transport.read(4))[0]

    def start(self) -> None:
        self.transport.write(bytes([CMD_START]))
        self._expect_ack("start")

    def busy(self) -> bool:
        self.transport.write(bytes([CMD_STATUS]))
        self._expect_ack("status")
        return bool(self.transport.read(1)[0] & 1)

    def layout(self) -> dict:
        """The wrapped design's buffer geometry, read from its registers."""
        magic = self.read(CSR_BASE + CSR["MAGIC"])
        if magic != MAGIC:
            raise BridgeError(f"no stream harness behind the bridge (magic 0x{magic:08x})")
        words = self.read(CSR_BASE + CSR["WORDS"])
        return {"depth": self.read(CSR_BASE + CSR["DEPTH"]), "in_words": words & 0xFF,
                "out_words": words >> 8 & 0xFF, "in_stride": words >> 16 & 0xFF,
                "out_stride": words >> 24 & 0xFF}


def pack_entries(fields: list, widths: list, words: int) -> np.ndarray:
    """Pack per-entry integer fields (low field first) into ``words`` 32-bit words each."""
    count = len(fields[0])
    value = [0] * count
    shift = 0
    for column, width in zip(fields, widths, strict=True):
        for e in range(count):
            value[e] |= (int(column[e]) & ((1 << width) - 1)) << shift
        shift += width
    return np.array([[(v >> (32 * w)) & 0xFFFFFFFF for w in range(words)] for v in value],
                    dtype=np.uint32).reshape(count, words)


def unpack_entries(words: np.ndarray, widths: list) -> list:
    """The inverse of :func:`pack_entries`: per-field integer arrays."""
    fields = [np.zeros(len(words), dtype=np.uint64) for _ in widths]
    for e, row in enumerate(words):
        value = sum(int(w) << (32 * i) for i, w in enumerate(row))
        shift = 0
        for f, width in enumerate(widths):
            fields[f][e] = (value >> shift) & ((1 << width) - 1)
            shift += width
    return fields


def run_batch(client: BridgeClient, in_words: np.ndarray, poll=None) -> tuple[np.ndarray, int]:
    """Write entries (rows of 32-bit words), run them, read the results back.

    Returns (output words per entry, cycles the run took). ``poll`` is called
    between status polls (e.g. a sleep on real hardware).
    """
    geo = client.layout()
    count = len(in_words)
    if count > geo["depth"]:
        raise ValueError(f"{count} entries exceed the design's buffer depth {geo['depth']}")
    if in_words.shape[1] != geo["in_words"]:
        raise ValueError(f"entries have {in_words.shape[1]} words, the design takes "
                         f"{geo['in_words']}")
    for e, row in enumerate(in_words):
        for w, value in enumerate(row):
            client.write(e * geo["in_stride"] + w, int(value))
    client.write(CSR_BASE + CSR["COUNT"], count)
    client.start()
    while client.busy():
        if poll is not None:
            poll()
    out = np.zeros((count, geo["out_words"]), dtype=np.uint32)
    for e in range(count):
        for w in range(geo["out_words"]):
            out[e, w] = client.read(OUT_BASE + e * geo["out_stride"] + w)
    return out, client.read(CSR_BASE + CSR["CYCLES"])


class _SerialTransport:
    def __init__(self, port):
        self.port = port

    def write(self, data: bytes) -> None:
        self.port.write(data)

    def read(self, n: int) -> bytes:
        data = self.port.read(n)
        if len(data) != n:
            raise BridgeError(f"serial timeout: wanted {n} bytes, got {len(data)}")
        return data


def open_serial(device: str, baud: int = 115200, timeout: float = 1.0) -> BridgeClient:
    """A client on a serial port (requires pyserial)."""
    try:
        import serial
    except ImportError:
        raise RuntimeError("talking to a board needs pyserial: pip install pyserial") from None
    port = serial.Serial(device, baud, timeout=timeout)
    time.sleep(0.01)
    return BridgeClient(_SerialTransport(port))
