"""Bump allocator over a region of the RDU's device memory, in whole AXI beats.

The runtime keeps the top quarter of device memory for what it writes itself
(program images, argument blocks, schedules); tensors live below
:func:`tensor_region`'s end.
"""

__all__ = ["DeviceMemory", "OutOfDeviceMemory", "tensor_region", "command_region"]


def tensor_region(memory_bytes: int) -> tuple[int, int]:
    """(base, size) of the part of device memory for tensors."""
    return 0, memory_bytes * 3 // 4


def command_region(memory_bytes: int) -> tuple[int, int]:
    """(base, size) of the part the runtime uses for programs and arguments."""
    base = memory_bytes * 3 // 4
    return base, memory_bytes - base


class OutOfDeviceMemory(MemoryError):
    """The device memory cannot hold what was asked for."""


class DeviceMemory:
    """Hands out beat-aligned regions of ``[base, base + size)``; ``reset()`` frees everything."""

    def __init__(self, size: int, beat_bytes: int, base: int = 0):
        self.base, self.size, self.beat_bytes = base, size, beat_bytes
        self._next = base

    def allocate(self, nbytes: int, what: str = "buffer") -> int:
        if nbytes <= 0:
            raise ValueError(f"cannot allocate {nbytes} bytes for {what}")
        start = self._next
        end = start + -(-nbytes // self.beat_bytes) * self.beat_bytes
        if end > self.base + self.size:
            raise OutOfDeviceMemory(f"{what} needs {nbytes} bytes; "
                                    f"{self.base + self.size - start} of {self.size} bytes "
                                    f"of this device-memory region are free")
        self._next = end
        return start

    def reset(self) -> None:
        self._next = self.base
