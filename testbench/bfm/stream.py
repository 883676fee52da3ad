"""Valid/ready stream source and sink with seeded random stalls.

Both drive their signals right after a rising edge and sample the handshake
in the read-only phase of the same step, i.e. the values the next edge will
see. Payloads are plain integers (the flattened ``amaranth.lib.data`` layout).
"""

import random
from collections import deque

from cocotb.triggers import Event, ReadOnly, RisingEdge

__all__ = ["StreamSource", "StreamSink"]


class _StreamEnd:
    def __init__(self, dut, prefix: str, clock, rng: random.Random, stall: float):
        if not 0.0 <= stall < 1.0:
            raise ValueError(f"stall probability must be in [0, 1), not {stall}")
        self.name = prefix
        self.valid = getattr(dut, f"{prefix}__valid")
        self.ready = getattr(dut, f"{prefix}__ready")
        self.payload = getattr(dut, f"{prefix}__payload")
        self.clock = clock
        self.rng = rng
        self.stall = stall
        self.count = 0
        self.last_transfer_cycle = 0
        self.cycle = 0

    def describe(self) -> str:
        return (f"stream '{self.name}': valid={self.valid.value} ready={self.ready.value}, "
                f"{self.count} beats, last at cycle {self.last_transfer_cycle}")


class StreamSource(_StreamEnd):
    """Drives ``<prefix>__valid/payload``; deasserts valid with probability ``stall``."""

    def __init__(self, dut, prefix, clock, rng, stall=0.0):
        super().__init__(dut, prefix, clock, rng, stall)
        self.queue = deque()
        self.valid.value = 0
        self._idle = Event()
        self._idle.set()
        import cocotb

        cocotb.start_soon(self._run())

    def send(self, payloads) -> None:
        """Queue payloads (integers) to be sent in order."""
        self.queue.extend(payloads)
        if self.queue:
            self._idle.clear()

    @property
    def pending(self) -> int:
        return len(self.queue)

    async def wait_idle(self):
        await self._idle.wait()

    async def _run(self):
        valid, ready, payload, queue = self.valid, self.ready, self.payload, self.queue
        rng, stall = self.rng, self.stall
        while True:
            await RisingEdge(self.clock)
            self.cycle += 1
            offering = bool(queue) and (stall == 0.0 or rng.random() >= stall)
            if offering:
                payload.value = queue[0]
            valid.value = int(offering)
            await ReadOnly()
            if offering and ready.value:
                queue.popleft()
                self.count += 1
                self.last_transfer_cycle = self.cycle
                if not queue:
                    self._idle.set()


class StreamSink(_StreamEnd):
    """Accepts beats from ``<prefix>__valid/payload``; deasserts ready with probability
    ``stall``."""

    def __init__(self, dut, prefix, clock, rng, stall=0.0, on_beat=None):
        super().__init__(dut, prefix, clock, rng, stall)
        self.received = []
        self.on_beat = on_beat
        self._target = None
        self._reached = Event()
        self.ready.value = 0
        import cocotb

        cocotb.start_soon(self._run())

    async def wait_for(self, count: int):
        """Wait until ``count`` beats in total have been received."""
        if self.count >= count:
            return
        self._target = count
        self._reached.clear()
        await self._reached.wait()

    @property
    def expecting(self) -> bool:
        return self._target is not None and self.count < self._target

    async def _run(self):
        valid, ready, payload = self.valid, self.ready, self.payload
        rng, stall = self.rng, self.stall
        while True:
            await RisingEdge(self.clock)
            self.cycle += 1
            accepting = stall == 0.0 or rng.random() >= stall
            ready.value = int(accepting)
            await ReadOnly()
            if accepting and valid.value:
                beat = int(payload.value)
                self.received.append(beat)
                self.count += 1
                self.last_transfer_cycle = self.cycle
                if self.on_beat is not None:
                    self.on_beat(beat)
                if self._target is not None and self.count >= self._target:
                    self._target = None
                    self._reached.set()
