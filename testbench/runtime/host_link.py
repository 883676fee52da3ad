"""A host link slower than the host port: data (e.g. an expert's weight image) written
from host memory over the RDU's host AXI port, throttled to a link bandwidth.

The throttle is on the AXI write-data channel of the host's cocotbext-axi master: a
deterministic pause pattern lets a beat go in a cycle only when the link has delivered a
whole beat's worth of bytes since the last one (a Bresenham accumulator, so the average is
exactly ``bytes_per_cycle`` for any rational rate, never above it). The device may still
hold the beat back (``wready`` low); the cycles counted are what the write took.
"""

from collections.abc import Iterator

__all__ = ["link_pauses", "paced_write", "link_bytes_per_cycle"]


def link_bytes_per_cycle(link_gbps: float, clock_mhz: float) -> float:
    """Bytes per RDU cycle of a ``link_gbps`` GB/s link at ``clock_mhz`` MHz."""
    if link_gbps <= 0 or clock_mhz <= 0:
        raise ValueError(f"link bandwidth and clock must be positive ({link_gbps} GB/s, "
                         f"{clock_mhz} MHz)")
    return link_gbps * 1e9 / (clock_mhz * 1e6)


def link_pauses(bytes_per_cycle: float, beat_bytes: int) -> Iterator[bool]:
    """Per cycle: pause the write-data channel (True) or let one beat go (False), so that at
    most ``bytes_per_cycle`` bytes per cycle pass on average."""
    if bytes_per_cycle <= 0:
        raise ValueError(f"link rate must be positive, not {bytes_per_cycle} bytes/cycle")
    credit = 0.0
    while True:
        credit += bytes_per_cycle
        if credit >= beat_bytes:
            # a link faster than the port saves nothing up beyond the next beat
            credit = min(credit - beat_bytes, float(beat_bytes))
            yield False
        else:
            yield True


async def paced_write(runtime, address: int, data: bytes, bytes_per_cycle: float) -> int:
    """Write ``data`` at ``address`` through ``runtime``'s AXI transport at most
    ``bytes_per_cycle`` bytes per cycle; return the cycles from issue to the last write
    response. The channel's previous pause generator (random host stalls) is restored."""
    channel = runtime.transport.data.write_if.w_channel
    previous = channel._pause_generator
    channel.set_pause_generator(link_pauses(bytes_per_cycle, runtime.beat_bytes))
    start = runtime.cycle
    try:
        await runtime.transport.write_memory(address, data)
    finally:
        channel.set_pause_generator(previous)
        if previous is None:
            channel.pause = False  # a stopped generator leaves its last value behind
    return runtime.cycle - start
