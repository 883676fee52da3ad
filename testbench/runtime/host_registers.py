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
COUNTERS = 0x100

STATUS_BUSY = 1 << 0
STATUS_ERROR = 1 << 1
