"""The host end of a simulated UART wire (cocotb): bytes in and out bit by bit."""

import cocotb
from cocotb.queue import Queue
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly, RisingEdge

__all__ = ["UartWire"]


class UartWire:
    """The host end of the UART wire on ``dut.rx`` / ``dut.tx``, bit by bit at ``divisor``
    clocks per bit (8N1).

    Seeded random idle gaps between the bytes it sends stall the bridge's receiver.
    It has the attributes the Watchdog reads (name, count, pending, expecting).
    """

    def __init__(self, dut, divisor, rng, gap_prob=0.3, max_gap_bits=3):
        self.dut, self.divisor, self.rng = dut, divisor, rng
        self.gap_prob, self.max_gap_bits = gap_prob, max_gap_bits
        self.name = "uart"
        self.count = 0
        self.pending = 0
        self.waiting = 0
        self.received = Queue()
        dut.rx.value = 1
        cocotb.start_soon(self._monitor())

    @property
    def expecting(self) -> bool:
        return self.waiting > 0

    def describe(self) -> str:
        return (f"uart wire: {self.count} bytes moved, {self.pending} to send, "
                f"host waiting for {self.waiting} bytes")

    async def send(self, data: bytes):
        self.pending += len(data)
        for byte in data:
            if self.rng.random() < self.gap_prob:
                gap = self.divisor * self.rng.randint(1, self.max_gap_bits)
                await ClockCycles(self.dut.clk, gap)
            for bit in [0] + [(byte >> i) & 1 for i in range(8)] + [1]:
                self.dut.rx.value = bit
                await ClockCycles(self.dut.clk, self.divisor)
            self.pending -= 1
            self.count += 1

    async def receive(self, n: int) -> bytes:
        self.waiting = n
        out = bytearray()
        for _ in range(n):
            out.append(await self.received.get())
            self.waiting -= 1
        return bytes(out)

    async def _monitor(self):
        tx, clk, div = self.dut.tx, self.dut.clk, self.divisor
        while True:
            await FallingEdge(tx)
            await ClockCycles(clk, div // 2)
            await ReadOnly()
            assert int(tx.value) == 0, "UART tx: start bit did not last half a bit"
            byte = 0
            for i in range(8):
                await ClockCycles(clk, div)
                await ReadOnly()
                byte |= int(tx.value) << i
            await ClockCycles(clk, div)
            await ReadOnly()
            assert int(tx.value) == 1, f"UART tx: missing stop bit after byte 0x{byte:02x}"
            await RisingEdge(clk)  # leave ReadOnly before the host may write again
            self.count += 1
            self.received.put_nowait(byte)
