"""Shared steps of the AXI memory tests (cocotb side): batches of concurrent random bursts
on disjoint regions checked against a byte model, and the cycles of back-to-back bursts."""

import cocotb

from hdl.bus import RESP_OKAY
from testbench.bfm.cycle_counter import CycleCounter


def disjoint_regions(count: int, pick) -> list:
    """``count`` regions ``(start, length, size)`` from repeated ``pick()`` calls, each
    kept only if it overlaps none kept before (so a batch's order does not matter)."""
    regions = []
    while len(regions) < count:
        start, length, size = pick()
        if all(start + length <= s or s + n <= start for s, n, _ in regions):
            regions.append((start, length, size))
    return regions


async def run_batch(rng, regions, golden: bytearray, board, write, read) -> int:
    """Start a burst on every region at once, a write of random bytes or (at random) a read
    expected on ``board`` from ``golden``; check every response is OKAY, then apply the
    writes to ``golden``. ``write(start, data, size)`` and ``read(start, length, size)``
    return the operations. Returns the bytes written."""
    tasks, kinds, writes = [], [], []
    for start, length, size in regions:
        if rng.random() < 0.5:
            data = rng.randbytes(length)
            writes.append((start, data))
            kinds.append("write")
            tasks.append(cocotb.start_soon(write(start, data, size)))
        else:
            board.expect([bytes(golden[start:start + length])])
            kinds.append("read")
            tasks.append(cocotb.start_soon(read(start, length, size)))
    for kind, task in zip(kinds, tasks, strict=True):
        result = await task
        assert result.resp == RESP_OKAY, f"{kind} answered {result.resp}"
        if kind == "read":
            board.receive(bytes(result.data))
    for start, data in writes:
        golden[start:start + len(data)] = data
    return sum(len(data) for _, data in writes)


async def burst_cycles(dut, end, data: bytes) -> dict:
    """``{"write": cycles, "read": cycles}`` of writing ``data`` at address 0 through
    ``end`` (an AxiMaster or a TierPort) and reading it back (checked) in one burst each."""
    cycles = {}
    for name, operation in (("write", lambda: end.write(0, data)),
                            ("read", lambda: end.read(0, len(data)))):
        counter = CycleCounter(dut)
        result = await operation()
        cycles[name] = counter.stop()
        assert result.resp == RESP_OKAY, f"{name} answered {result.resp}"
        if name == "read":
            assert bytes(result.data) == data, f"a {len(data)}-byte read came back different"
    return cycles
