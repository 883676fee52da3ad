"""Byte offsets of the host port's AXI4-Lite registers (see hdl/host/host_port.py)."""

ID = 0x00
STATUS = 0x04
CMD_OP = 0x08
CMD_ADDR = 0x0C
CMD_LENGTH = 0x10
DOORBELL = 0x14
KERNELS_DONE = 0x18
COMMANDS_DONE = 0x1C
KERNEL_CYCLES = 0x20
CYCLE = 0x24
# copy engine (memory="tiers" only)
COPY_SRC = 0x28
COPY_DST = 0x2C
COPY_LENGTH = 0x30
COPY_GO = 0x34
COPY_STATUS = 0x38
COPY_CYCLES = 0x3C
PROGRAM_CYCLES = 0x40
COUNTERS = 0x100

STATUS_BUSY = 1 << 0
STATUS_ERROR = 1 << 1

COPY_STATUS_BUSY = 1 << 0
COPY_STATUS_MEMORY_ERROR = 1 << 1


def copy_status_fields(value: int) -> dict:
    """COPY_STATUS as {busy, memory_error, errors (mod 256), copies (mod 65536)}."""
    return {"busy": bool(value & COPY_STATUS_BUSY),
            "memory_error": bool(value & COPY_STATUS_MEMORY_ERROR),
            "errors": value >> 8 & 0xFF, "copies": value >> 16 & 0xFFFF}
