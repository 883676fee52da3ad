"""AXI4-Lite and AXI4 master for Amaranth testbenches (``amaranth.sim``), on flat ports.

The cocotb side reaches a top's ``<prefix>_aw*``/``w*``/``b*``/``ar*``/``r*`` ports
with cocotbext-axi; this is the same host for a top simulated by Amaranth's own
simulator: every method is a coroutine taking the testbench context ``ctx`` of
``Simulator.add_testbench``. Transfers are one at a time (no outstanding
transactions, ID 0, INCR bursts of whole beats, never crossing 4 KiB), and every
response must be OKAY.
"""

from amaranth.sim import SimulatorContext

__all__ = ["AmaranthAxiHost", "AxiResponseError"]

_BURST_INCR = 1
_BOUNDARY = 4096


class AxiResponseError(RuntimeError):
    """A slave answered a transfer with a response other than OKAY."""


class AmaranthAxiHost:
    """Host of a top with an AXI4-Lite register port ``<lite>_*`` (32-bit data) and an
    AXI4 memory port ``<memory>_*`` (``beat_bytes`` wide); ``max_burst`` beats per burst."""

    def __init__(self, top, *, beat_bytes: int, lite: str = "s_axil", memory: str = "s_axi",
                 max_burst: int = 16):
        if beat_bytes & (beat_bytes - 1) or not 1 <= max_burst <= 256:
            raise ValueError(f"beat_bytes must be a power of two and max_burst 1..256, not "
                             f"{beat_bytes}, {max_burst}")
        self.beat_bytes, self.max_burst = beat_bytes, max_burst
        self._lite = lambda name: getattr(top, f"{lite}_{name}")
        self._mem = lambda name: getattr(top, f"{memory}_{name}")

    # -- AXI4-Lite registers -------------------------------------------------------------------
    async def write_register(self, ctx: SimulatorContext, offset: int, value: int) -> None:
        port = self._lite
        ctx.set(port("awaddr"), offset)
        ctx.set(port("wdata"), value)
        ctx.set(port("wstrb"), 0xF)
        await _handshake_together(ctx, [(port("awvalid"), port("awready")),
                                        (port("wvalid"), port("wready"))])
        _check(await _response(ctx, port("bvalid"), port("bready"), port("bresp")),
               f"register write {offset:#x}")

    async def read_register(self, ctx: SimulatorContext, offset: int) -> int:
        port = self._lite
        ctx.set(port("araddr"), offset)
        await _handshake_together(ctx, [(port("arvalid"), port("arready"))])
        ctx.set(port("rready"), 1)
        data, resp = await ctx.tick().sample(port("rdata"), port("rresp")).until(
            port("rvalid"))
        ctx.set(port("rready"), 0)
        _check(resp, f"register read {offset:#x}")
        return int(data)

    # -- AXI4 memory ---------------------------------------------------------------------------
    def _bursts(self, address: int, nbytes: int):
        """(address, beats) of each burst covering ``[address, address + nbytes)``."""
        if address % self.beat_bytes:
            raise ValueError(f"address {address:#x} is not aligned to a "
                             f"{self.beat_bytes}-byte beat")
        beats = -(-nbytes // self.beat_bytes)
        while beats:
            room = (_BOUNDARY - address % _BOUNDARY) // self.beat_bytes
            count = min(beats, self.max_burst, room)
            yield address, count
            address += count * self.beat_bytes
            beats -= count

    def _set_address(self, ctx, channel: str, address: int, beats: int) -> None:
        mem = self._mem
        ctx.set(mem(f"{channel}id"), 0)
        ctx.set(mem(f"{channel}addr"), address)
        ctx.set(mem(f"{channel}len"), beats - 1)
        ctx.set(mem(f"{channel}size"), self.beat_bytes.bit_length() - 1)
        ctx.set(mem(f"{channel}burst"), _BURST_INCR)

    async def write_memory(self, ctx: SimulatorContext, address: int, data: bytes) -> None:
        """Write ``data`` at the beat-aligned ``address`` (a partial last beat is strobed)."""
        mem, beat = self._mem, self.beat_bytes
        offset = 0
        for burst_address, beats in self._bursts(address, len(data)):
            chunks = []
            for _ in range(beats):
                chunk = data[offset:offset + beat]
                offset += beat
                chunks.append((int.from_bytes(chunk.ljust(beat, b"\0"), "little"),
                               (1 << len(chunk)) - 1))
            self._set_address(ctx, "aw", burst_address, beats)
            ctx.set(mem("awvalid"), 1)
            await self._write_beats(ctx, chunks)
            _check(await _response(ctx, mem("bvalid"), mem("bready"), mem("bresp")),
                   f"memory write {burst_address:#x}")

    async def _write_beats(self, ctx, chunks) -> None:
        """Send ``chunks`` (data, strobe) on W while AW (already valid) is accepted."""
        mem = self._mem
        aw_pending, index = True, 0

        def present(i):
            ctx.set(mem("wdata"), chunks[i][0])
            ctx.set(mem("wstrb"), chunks[i][1])
            ctx.set(mem("wlast"), i == len(chunks) - 1)

        present(0)
        ctx.set(mem("wvalid"), 1)
        while aw_pending or index < len(chunks):
            _, _, aw_ready, w_ready = await ctx.tick().sample(mem("awready"), mem("wready"))
            if aw_pending and aw_ready:
                aw_pending = False
                ctx.set(mem("awvalid"), 0)
            if index < len(chunks) and w_ready:
                index += 1
                if index < len(chunks):
                    present(index)
                else:
                    ctx.set(mem("wvalid"), 0)

    async def read_memory(self, ctx: SimulatorContext, address: int, nbytes: int) -> bytes:
        """``nbytes`` from the beat-aligned ``address``."""
        mem, beat = self._mem, self.beat_bytes
        out = bytearray()
        for burst_address, beats in self._bursts(address, nbytes):
            self._set_address(ctx, "ar", burst_address, beats)
            await _handshake_together(ctx, [(mem("arvalid"), mem("arready"))])
            ctx.set(mem("rready"), 1)
            for index in range(beats):
                data, resp, last = await ctx.tick().sample(
                    mem("rdata"), mem("rresp"), mem("rlast")).until(mem("rvalid"))
                _check(resp, f"memory read {burst_address:#x}")
                if bool(last) != (index == beats - 1):
                    raise AxiResponseError(f"memory read {burst_address:#x}: RLAST on beat "
                                           f"{index} of {beats}")
                out += int(data).to_bytes(beat, "little")
            ctx.set(mem("rready"), 0)
        return bytes(out[:nbytes])


async def _handshake_together(ctx, channels) -> None:
    """Raise every ``(valid, ready)`` channel's valid; drop each once its handshake happened."""
    pending = list(channels)
    for valid, _ in pending:
        ctx.set(valid, 1)
    while pending:
        _, _, *ready = await ctx.tick().sample(*(r for _, r in pending))
        for (valid, _), accepted in zip(pending, ready, strict=True):
            if accepted:
                ctx.set(valid, 0)
        # filtered by position: comparing Amaranth signals with == builds an expression
        pending = [channel for channel, accepted in zip(pending, ready, strict=True)
                   if not accepted]


async def _response(ctx, valid, ready, resp) -> int:
    ctx.set(ready, 1)
    (value,) = await ctx.tick().sample(resp).until(valid)
    ctx.set(ready, 0)
    return int(value)


def _check(resp: int, what: str) -> None:
    if resp:
        raise AxiResponseError(f"{what}: response {resp} (not OKAY)")
