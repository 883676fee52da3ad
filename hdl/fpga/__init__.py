"""FPGA prototyping RTL: UART, the host bridge and board-level tops."""
