"""The AGCU's word reader under Amaranth's simulator, at every data width: runs queued
back to back at any word address and length, buffered or direct, with a slow consumer
and a slave that pauses; every word in order, no R beat ever held, a burst only with
room for all its beats."""

import random

import pytest
from amaranth.sim import Simulator

from hdl.agcu.word_reader import MAX_BURST, WordReader


def _runs(rng: random.Random, beat_bytes: int, count: int) -> list:
    """(addr, count, direct) per run: lengths around and beyond the buffer, any word
    address, some across a 4 KiB page."""
    runs = []
    for _ in range(count):
        addr = rng.choice((rng.randrange(0, 0x3000, 4), 0x1000 - rng.randrange(1, 40) * 4))
        length = rng.choice((1, 3, 4, rng.randint(1, 20), rng.randint(20, 300)))
        runs.append((addr, length, int(rng.random() < 0.3)))
    return runs


SEEDS = [1, 2]


@pytest.mark.parametrize("data_width", [32, 64, 128, 512])
def test_word_reader_runs(data_width, seed):
    rng = random.Random(seed)
    beat_bytes = data_width // 8
    buffer_words = max(2 * beat_bytes // 4, 32)
    dut = WordReader(data_width, read_id=15, buffer_words=buffer_words)
    memory = {a: rng.getrandbits(32) for a in range(0, 0x4000, 4)}
    runs = _runs(rng, beat_bytes, 12)
    expected_buffered = [memory[a + 4 * k] for a, n, direct in runs if not direct
                         for k in range(n)]
    expected_direct = [memory[a + 4 * k] for a, n, direct in runs if direct for k in range(n)]
    got_buffered, got_direct, bursts = [], [], []
    state = {"done": False}

    def beat_at(address):
        return sum(memory[address + 4 * k] << (32 * k) for k in range(beat_bytes // 4))

    async def host(ctx):
        for addr, count, direct in runs:
            ctx.set(dut.addr, addr)
            ctx.set(dut.count, count)
            ctx.set(dut.direct, direct)
            ctx.set(dut.start, 1)
            await ctx.tick().until(dut.ready)
            ctx.set(dut.start, 0)
            await ctx.tick()
        await ctx.tick().repeat(5000)
        state["done"] = True

    async def slave(ctx):
        pending = []
        for _ in range(40000):
            if state["done"]:
                return
            ctx.set(dut.mem.arready, rng.random() < 0.7)
            r_beat = None
            if pending and rng.random() < 0.8:
                addr, left = pending[0]
                r_beat = (addr, left == 1)
                ctx.set(dut.mem.rvalid, 1)
                ctx.set(dut.mem.rdata, beat_at(addr))
                ctx.set(dut.mem.rid, 15)
                ctx.set(dut.mem.rlast, left == 1)
            else:
                ctx.set(dut.mem.rvalid, 0)
            _, _, arvalid, arready, araddr, arlen, rready = await ctx.tick().sample(
                dut.mem.arvalid, dut.mem.arready, dut.mem.araddr, dut.mem.arlen, dut.mem.rready)
            if r_beat is not None:
                assert rready, "the reader held an R beat"
                addr, last = r_beat
                if last:
                    pending.pop(0)
                else:
                    pending[0] = (addr + beat_bytes, pending[0][1] - 1)
            if arvalid and arready:
                beats = arlen + 1
                assert beats <= MAX_BURST
                assert araddr // 4096 == (araddr + beats * beat_bytes - 1) // 4096
                bursts.append(beats)
                pending.append((araddr, beats))

    async def consumer(ctx):
        while not state["done"]:
            ctx.set(dut.words.ready, rng.random() < 0.6)
            _, _, valid, ready, payload, beat_valid, data, first, last = await (
                ctx.tick().sample(dut.words.valid, dut.words.ready, dut.words.payload,
                                  dut.beat.valid, dut.beat.data, dut.beat.first, dut.beat.last))
            if valid and ready:
                got_buffered.append(payload)
            if beat_valid:
                got_direct.extend((data >> (32 * p)) & 0xFFFFFFFF for p in range(first, last + 1))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(host)
    sim.add_testbench(slave)
    sim.add_testbench(consumer)
    sim.run()
    assert expected_buffered and expected_direct
    assert got_buffered == expected_buffered
    assert got_direct == expected_direct
    assert max(bursts) <= max(1, min(MAX_BURST, buffer_words // (beat_bytes // 4) // 2))
