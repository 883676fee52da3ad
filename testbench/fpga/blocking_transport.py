"""A synchronous byte transport over a simulated UART wire, for host code in a cocotb
``bridge`` thread."""

from cocotb.task import resume

__all__ = ["BlockingTransport"]


class BlockingTransport:
    """The host script's byte transport (``write(data)``, ``read(n)``) over a
    :class:`~testbench.fpga.uart_wire.UartWire`, for code run in a ``cocotb.task.bridge``
    thread: each call blocks until the simulation has moved the bytes."""

    def __init__(self, wire):
        self._write = resume(wire.send)
        self._read = resume(wire.receive)

    def write(self, data: bytes) -> None:
        self._write(data)

    def read(self, n: int) -> bytes:
        return self._read(n)
