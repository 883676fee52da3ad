"""AGCU: program load, argument load + kernel execute, hardware schedules, error paths.

The AGCU's memory is a cocotbext-axi AxiRam with seeded stalls on every channel
(addresses from ``ERROR_BASE`` up answer SLVERR). A small tile model answers
each kernel: it collects the READ streams' flits from ``vec_out``, then sends the
WRITE streams' flits on ``vec_in`` and pulses ``done_in``. Expected flits and
memory contents come from :func:`hdl.agcu.arguments.pattern_addresses`. Every test
checks the AR channel (a waiting request stays, unchanged, until taken) and that the
word reader never holds an R beat (its bursts have room reserved).
"""

import random
from dataclasses import replace

import cocotb
import pytest
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from hdl.agcu.arguments import READ, WRITE, StreamDescriptor, argument_words, pattern_addresses
from hdl.agcu.commands import Command
from testbench.bfm.clock_reset import start_clock_and_reset
from testbench.bfm.scoreboard import Scoreboard
from testbench.bfm.sim_io import sim_args
from testbench.bfm.stream import StreamSink, StreamSource
from testbench.bfm.watchdog import Watchdog
from testbench.sim.build_cache import Design
from testbench.sim.runner import simulate

SEEDS = [1, 2]
DATA_WIDTH = 128
BEAT = DATA_WIDTH // 8
MAX_STREAMS = 4
DESIGN = Design("agcu_top", "hdl.agcu.agcu:make_agcu_top",
                {"data_width": DATA_WIDTH, "max_streams": MAX_STREAMS, "outstanding": 4})
# a prefetch buffer of 8 beats (bursts of 4): programs many times its size
SMALL_BUFFER = Design("agcu_top", "hdl.agcu.agcu:make_agcu_top",
                      {"data_width": DATA_WIDTH, "max_streams": MAX_STREAMS, "outstanding": 4,
                       "prefetch_words": 32})
READER_ID = 15     # 2**id_width - 1
RAM_SIZE = 1 << 16
ERROR_BASE = 0xF000
ARGS_BASE, PROGRAM_BASE, SCHEDULE_BASE = 0x0000, 0x0800, 0x1F00
READ_WINDOW = (0x2000, 0x8000)
WRITE_WINDOW = (0x8000, 0xE000)
MASK = (1 << DATA_WIDTH) - 1


# --------------------------------------------------------------------------------------------
# kernels and their expected effect (plain Python)
# --------------------------------------------------------------------------------------------

def _pack_command(op: int, addr: int = 0, length: int = 0) -> int:
    return int(op) | addr << 4 | length << 36


def _pack_flit(data: int, flow: int, seq: int, last: int) -> int:
    return data | flow << DATA_WIDTH | seq << (DATA_WIDTH + 6) | last << (DATA_WIDTH + 14)


def _unpack_flit(value: int) -> tuple:
    return (value & MASK, value >> DATA_WIDTH & 63, value >> (DATA_WIDTH + 6) & 255,
            value >> (DATA_WIDTH + 14) & 1)


def _random_pattern(rng: random.Random, dense_long: bool = False):
    """Bounds and strides of an injective pattern, and its lowest/highest beat offset."""
    if dense_long:
        return (rng.randint(20, 48), 1, 1), (1, 0, 0)
    b0, b1, b2 = rng.randint(1, 10), rng.randint(1, 4), rng.randint(1, 3)
    s0 = rng.choice((1, 1, 2, 3))
    s1 = b0 * s0 + rng.randint(0, 3)
    s2 = (b1 * s1 + rng.randint(0, 3)) * rng.choice((1, -1))
    return (b0, b1, b2), (s0, s1, s2)


def _place(rng, bounds, strides, window, cursor):
    """A base in ``window`` at or after ``cursor`` so every beat stays inside; new cursor."""
    offsets = [i0 * strides[0] + i1 * strides[1] + i2 * strides[2] for i2 in range(bounds[2])
               for i1 in range(bounds[1]) for i0 in range(bounds[0])]
    low, high = min(offsets), max(offsets)
    base = cursor + (-low + rng.randint(0, 8)) * BEAT
    if base + high * BEAT >= window[1]:
        raise ValueError("kernel does not fit its window")
    return base, base + (high + 1) * BEAT


def random_kernel(rng: random.Random, reads: int, writes: int, flows: list):
    """Descriptors (READ first) with disjoint patterns; one READ is a long dense burst
    placed across a 4 KiB boundary."""
    descriptors = []
    cursor = READ_WINDOW[0] + 0x1000 - 10 * BEAT
    for index in range(reads):
        bounds, strides = _random_pattern(rng, dense_long=index == 0)
        base, cursor = _place(rng, bounds, strides, READ_WINDOW, cursor)
        descriptors.append(StreamDescriptor(READ, flows.pop(), base, bounds, strides,
                                            rng.randrange(256)))
    cursor = WRITE_WINDOW[0]
    for _ in range(writes):
        bounds, strides = _random_pattern(rng)
        base, cursor = _place(rng, bounds, strides, WRITE_WINDOW, cursor)
        descriptors.append(StreamDescriptor(WRITE, flows.pop(), base, bounds, strides,
                                            rng.randrange(256)))
    rng.shuffle(descriptors)
    # A READ that follows a READ is, at random, ordered after it.
    return [replace(d, ordered=True) if j and d.direction == READ
            and descriptors[j - 1].direction == READ and rng.random() < 0.5 else d
            for j, d in enumerate(descriptors)]


def check_ordered_streams(descriptors, received: list) -> int:
    """Assert every flit of an ordered READ stream left after the last flit of the READ
    stream before it; return how many ordered streams were checked."""
    flows = [_unpack_flit(f)[1] for f in received]
    checked = 0
    for j, d in enumerate(descriptors):
        if d.ordered and d.beats and descriptors[j - 1].beats:
            before = descriptors[j - 1].flow
            last_before = max(i for i, flow in enumerate(flows) if flow == before)
            first = flows.index(d.flow)
            assert first > last_before, (f"ordered stream {j} (flow {d.flow}) sent a flit at "
                                         f"{first} before stream {j - 1} finished at {last_before}")
            checked += 1
    return checked


def write_flits(rng: random.Random, descriptors) -> dict:
    """flow -> the flits the tile sends for that WRITE stream."""
    flits = {}
    for d in descriptors:
        if d.direction == WRITE:
            beats = d.beats
            flits[d.flow] = [_pack_flit(rng.getrandbits(DATA_WIDTH), d.flow,
                                        (d.first_seq + k) & 255, int(k == beats - 1))
                             for k in range(beats)]
    return flits


def expected_read_flits(memory: bytearray, descriptors) -> dict:
    flits = {}
    for d in descriptors:
        if d.direction == READ:
            addresses = pattern_addresses(d, BEAT)
            flits[d.flow] = [
                _pack_flit(int.from_bytes(memory[a:a + BEAT], "little"), d.flow,
                           (d.first_seq + k) & 255, int(k == len(addresses) - 1))
                for k, a in enumerate(addresses)]
    return flits


def apply_writes(memory: bytearray, descriptors, flits: dict) -> None:
    for d in descriptors:
        if d.direction == WRITE:
            for address, flit in zip(pattern_addresses(d, BEAT), flits[d.flow], strict=True):
                memory[address:address + BEAT] = (flit & MASK).to_bytes(BEAT, "little")


def _interleave(rng: random.Random, per_flow: dict) -> list:
    """All flits, each flow's in order, flows randomly interleaved."""
    queues = {flow: list(flits) for flow, flits in per_flow.items() if flits}
    out = []
    while queues:
        flow = rng.choice(sorted(queues))
        out.append(queues[flow].pop(0))
        if not queues[flow]:
            del queues[flow]
    return out


# --------------------------------------------------------------------------------------------
# cocotb side
# --------------------------------------------------------------------------------------------

def _pauses(rng: random.Random, probability: float):
    while True:
        yield rng.random() < probability


class _Bench:
    """Clock, AxiRam, stream BFMs with seeded stalls, watchdog."""

    def __init__(self, dut, rng: random.Random, stall: float):
        from cocotbext.axi import AxiBus, AxiRam

        self.dut, self.rng = dut, rng
        self.ram = AxiRam(AxiBus.from_prefix(dut, "m_axi"), dut.clk, dut.rst, size=RAM_SIZE)
        for handle in (self.ram.read_if, self.ram.write_if):
            handle.log.setLevel("ERROR")
        self._poison(self.ram.read_if, "_read")
        self._poison(self.ram.write_if, "_write")
        channels = (self.ram.read_if.ar_channel, self.ram.read_if.r_channel,
                    self.ram.write_if.aw_channel, self.ram.write_if.w_channel,
                    self.ram.write_if.b_channel)
        for channel in channels:
            channel.set_pause_generator(_pauses(random.Random(rng.getrandbits(32)), stall))

        def end(cls, name):
            return cls(dut, name, dut.clk, random.Random(rng.getrandbits(32)), stall=stall)

        self.cmd = end(StreamSource, "cmd")
        self.vec_in = end(StreamSource, "vec_in")
        self.cfg_out = end(StreamSink, "cfg_out")
        self.vec_out = end(StreamSink, "vec_out")
        self.watchdog = Watchdog(dut, dut.clk, [self.cmd, self.vec_in, self.cfg_out,
                                                self.vec_out], idle_cycles=3000,
                                 max_cycles=100_000, unit="agcu")
        dut.done_in.value = 0
        cocotb.start_soon(self.watchdog.run())
        cocotb.start_soon(self._check_read_channels())

    async def _check_read_channels(self) -> None:
        """AR: once ARVALID is high it stays, with the same payload, until ARREADY. R: a
        beat for the word reader is taken the cycle it is offered."""
        dut = self.dut
        fields = ("m_axi_arid", "m_axi_araddr", "m_axi_arlen", "m_axi_arsize", "m_axi_arburst")
        waiting = None
        while True:
            await RisingEdge(dut.clk)
            await ReadOnly()
            valid = int(dut.m_axi_arvalid.value)
            payload = tuple(int(getattr(dut, f).value) for f in fields)
            if waiting is not None:
                assert valid and payload == waiting, (
                    f"AR changed while waiting: {waiting} became {payload} (valid {valid})")
            waiting = payload if valid and not int(dut.m_axi_arready.value) else None
            if int(dut.m_axi_rvalid.value) and int(dut.m_axi_rid.value) == READER_ID:
                assert int(dut.m_axi_rready.value), "the word reader held an R beat"

    @staticmethod
    def _poison(interface, method):
        original = getattr(interface, method)

        async def checked(address, *rest):
            if address >= ERROR_BASE:
                raise ValueError(f"address {address:#x} is in the error window")
            return await original(address, *rest)

        setattr(interface, method, checked)

    def store_words(self, address: int, words: list) -> None:
        self.ram.write(address, b"".join(w.to_bytes(4, "little") for w in words))

    async def run_commands(self, commands: list) -> None:
        """Queue commands and wait until all have finished."""
        target = int(self.dut.commands_done.value) + len(commands)
        self.cmd.send([_pack_command(*c) for c in commands])
        while int(self.dut.commands_done.value) < target:
            await RisingEdge(self.dut.clk)

    async def pulse_done(self, count: int, gap: int = 3) -> None:
        await RisingEdge(self.dut.clk)  # leave the read-only phase a BFM wait may end in
        for _ in range(count):
            self.dut.done_in.value = 1
            await RisingEdge(self.dut.clk)
            self.dut.done_in.value = 0
            await ClockCycles(self.dut.clk, gap)

    async def tile(self, kernels: list, delay: int = 0) -> None:
        """For each (descriptors, write flits, tokens): wait for every READ beat and
        ``delay`` cycles more, then send the WRITE flits and the done tokens."""
        received = self.vec_out.count
        for descriptors, flits, tokens in kernels:
            received += sum(d.beats for d in descriptors if d.direction == READ)
            await self.vec_out.wait_for(received)
            if delay:
                await ClockCycles(self.dut.clk, delay)
            self.vec_in.send(_interleave(self.rng, flits))
            await self.vec_in.wait_idle()
            await self.pulse_done(tokens)

    def memory(self) -> bytearray:
        return bytearray(self.ram.read(0, ERROR_BASE))


def _by_flow(flits: list) -> dict:
    groups = {}
    for flit in flits:
        groups.setdefault(_unpack_flit(flit)[1], []).append(flit)
    return groups


def _flows_board(expected: dict, received: list, name: str) -> Scoreboard:
    """Per-flow in-order comparison (flows may interleave on the wire)."""
    board = Scoreboard(name, formatter=lambda f: "data={:#x} flow={} seq={} last={}".format(
        *_unpack_flit(f)))
    for flow in sorted(expected):
        board.expect(expected[flow])
        for flit in received:
            if _unpack_flit(flit)[1] == flow:
                board.receive(flit)
    extra = [f for f in received if _unpack_flit(f)[1] not in expected]
    for flit in extra:
        board.receive(flit)
    return board


@cocotb.test()
async def program_load(dut):
    """PROGRAM_LOAD streams exactly the words in memory, for several queued loads."""
    args = sim_args()
    rng = random.Random(cocotb.RANDOM_SEED)
    await start_clock_and_reset(dut)
    bench = _Bench(dut, rng, args["stall"])
    board = Scoreboard("cfg_out")
    bench.cfg_out.on_beat = board.receive
    commands = []
    # lengths: a partial beat, exactly one burst, many bursts across a 4 KiB page
    # and a start in the middle of a beat (a 4-byte-aligned address)
    for length, misalign in ((3, 0), (64, 0), (1 + rng.randrange(16), 0),
                             (700 + rng.randrange(64), 0), (37, 4 * rng.randint(1, 3))):
        address = PROGRAM_BASE + rng.randrange(0x100) * BEAT + misalign
        words = [rng.getrandbits(32) for _ in range(length)]
        bench.store_words(address, words)
        board.expect(words)
        commands.append((Command.PROGRAM_LOAD, address, length))
        await bench.run_commands([commands[-1]])
    await bench.run_commands([(Command.PROGRAM_LOAD, PROGRAM_BASE, 0)])  # zero words: no-op
    await ClockCycles(dut.clk, 10)
    board.check_done()
    assert int(dut.commands_done.value) == 6 and not int(dut.error.value)
    assert not int(dut.busy.value), "busy after the last command"
    dut._log.info(f"{board.summary()}; {bench.watchdog.cycles} cycles")


@cocotb.test()
async def kernel_execute(dut):
    """ARGUMENT_LOAD + KERNEL_EXECUTE: concurrent READ and WRITE streams, strided and dense,
    bit-exact; the kernel completes only after its done tokens."""
    args = sim_args()
    rng = random.Random(cocotb.RANDOM_SEED)
    await start_clock_and_reset(dut)
    bench = _Bench(dut, rng, args["stall"])
    golden = bytearray(rng.randbytes(ERROR_BASE))
    bench.ram.write(0, bytes(golden))
    for trial in range(args["kernels"]):
        flows = rng.sample(range(64), MAX_STREAMS)
        reads = rng.randint(2 if trial == 0 else 1, MAX_STREAMS - 1)
        descriptors = random_kernel(rng, reads, MAX_STREAMS - reads, flows)
        if trial == 0:  # at least one ordered pair: the READs first, the second ordered
            descriptors.sort(key=lambda d: d.direction)
            descriptors[1] = replace(descriptors[1], ordered=True)
        tokens = rng.randint(1, 4)
        words = argument_words(descriptors, tokens)
        bench.store_words(ARGS_BASE, words)
        golden[ARGS_BASE:ARGS_BASE + 4 * len(words)] = b"".join(
            w.to_bytes(4, "little") for w in words)
        expected = expected_read_flits(golden, descriptors)
        flits = write_flits(rng, descriptors)
        start_count = bench.vec_out.count
        done_before = int(dut.kernels_done.value)
        await bench.run_commands([(Command.ARGUMENT_LOAD, ARGS_BASE, len(words))])
        bench.cmd.send([_pack_command(Command.KERNEL_EXECUTE)])
        await bench.vec_out.wait_for(start_count + sum(len(f) for f in expected.values()))
        bench.vec_in.send(_interleave(rng, flits))
        await bench.vec_in.wait_idle()
        await ClockCycles(dut.clk, 200)  # every write answered long ago; still no tokens
        assert int(dut.busy.value) and int(dut.kernels_done.value) == done_before, (
            "kernel completed before its done tokens")
        await bench.pulse_done(tokens - 1)
        await ClockCycles(dut.clk, 20)
        assert int(dut.kernels_done.value) == done_before, "completed one token early"
        await bench.pulse_done(1)
        await ClockCycles(dut.clk, 5)
        assert int(dut.kernels_done.value) == done_before + 1, "did not complete after tokens"
        board = _flows_board(expected, bench.vec_out.received[start_count:], f"vec_out #{trial}")
        board.check_done()
        ordered = check_ordered_streams(descriptors, bench.vec_out.received[start_count:])
        apply_writes(golden, descriptors, flits)
        assert bench.memory() == golden, f"memory differs after kernel {trial}"
        dut._log.info(f"kernel {trial}: {reads} READ + {MAX_STREAMS - reads} WRITE streams, "
                      f"{ordered} ordered, {board.summary()}, "
                      f"kernel_cycles {int(dut.kernel_cycles.value)}")
    assert not int(dut.error.value), "error set by a clean kernel"


def _schedule_kernels(rng: random.Random, count: int, long_programs: bool = False):
    """(program words, descriptors, write flits, tokens) per kernel; kernel 1 keeps the
    program of kernel 0. ``long_programs``: 100 to 300 words each (longer than the
    prefetch buffer), and kernel 2 keeps it too."""
    kernels = []
    for index in range(count):
        flows = rng.sample(range(64), MAX_STREAMS)
        reads = rng.randint(1, MAX_STREAMS - 1)
        descriptors = random_kernel(rng, reads, MAX_STREAMS - reads, flows)
        length = rng.randint(100, 300) if long_programs else rng.randint(5, 90)
        keep = index == 1 or (long_programs and index == 2)
        program = [] if keep else [rng.getrandbits(32) for _ in range(length)]
        kernels.append((program, descriptors, write_flits(rng, descriptors), rng.randint(0, 2)))
    return kernels


def _store_kernels(bench, kernels) -> list:
    """Programs and argument blocks into memory; the schedule entries."""
    entries = []
    program_at, args_at = PROGRAM_BASE, ARGS_BASE
    for program, descriptors, _, tokens in kernels:
        words = argument_words(descriptors, tokens)
        bench.store_words(program_at, program)
        bench.store_words(args_at, words)
        entries.append((program_at, len(program), args_at, len(words)))
        program_at += (len(program) + 3) // 4 * BEAT
        args_at += (len(words) + 3) // 4 * BEAT
    return entries


@cocotb.test()
async def schedule(dut):
    """SCHEDULE of N kernels gives the same flits, memory and cfg words as the same kernels
    issued one command at a time; kernel_cycles measured in both modes."""
    args = sim_args()
    rng = random.Random(cocotb.RANDOM_SEED)
    await start_clock_and_reset(dut)
    bench = _Bench(dut, rng, args["stall"])
    initial = rng.randbytes(ERROR_BASE)
    kernels = _schedule_kernels(rng, args["kernels"], args.get("long_programs", False))
    tile_view = [(d, f, t) for _, d, f, t in kernels]
    results = {}
    for mode in ("host", "schedule"):
        bench.ram.write(0, initial)
        entries = _store_kernels(bench, kernels)
        for index, entry in enumerate(entries):
            bench.store_words(SCHEDULE_BASE + 16 * index, list(entry))
        results["image"] = bench.memory()
        cfg_start, vec_start = bench.cfg_out.count, bench.vec_out.count
        cycle_start = bench.watchdog.cycles
        cycles = []
        tile = cocotb.start_soon(bench.tile(tile_view))
        if mode == "host":
            for program_at, program_words, args_at, args_words in entries:
                commands = [(Command.ARGUMENT_LOAD, args_at, args_words),
                            (Command.KERNEL_EXECUTE,)]
                if program_words:
                    commands.insert(0, (Command.PROGRAM_LOAD, program_at, program_words))
                await bench.run_commands(commands)
                cycles.append(int(dut.kernel_cycles.value))
        else:
            run = cocotb.start_soon(bench.run_commands(
                [(Command.SCHEDULE, SCHEDULE_BASE, len(entries))]))
            cycles += await _at_each_kernel_end(dut, run, dut.kernel_cycles)
            assert len(cycles) == len(entries), "schedule ran the wrong kernel count"
        await tile
        results[mode] = (bench.cfg_out.received[cfg_start:], bench.vec_out.received[vec_start:],
                         bench.memory(), cycles)
        dut._log.info(f"{mode}: kernel_cycles {cycles}, {len(kernels)} kernels in "
                      f"{bench.watchdog.cycles - cycle_start} cycles")
    host, scheduled = results["host"], results["schedule"]
    assert scheduled[0] == host[0], "cfg_out words differ between host and schedule runs"
    # each flow's flits in order (how flows interleave on the wire depends on timing)
    assert _by_flow(scheduled[1]) == _by_flow(host[1]), (
        "vec_out flits differ between host and schedule runs")
    assert scheduled[2] == host[2], "memory differs between host and schedule runs"
    # and both equal the model
    golden = bytearray(results["image"])
    expected = {}
    for _, descriptors, flits, _ in kernels:
        for flow, group in expected_read_flits(golden, descriptors).items():
            expected.setdefault(flow, []).extend(group)
        apply_writes(golden, descriptors, flits)
    assert scheduled[2] == golden, "memory differs from the model"
    _flows_board(expected, scheduled[1], "vec_out vs model").check_done()
    assert scheduled[0] == [w for program, *_ in kernels for w in program]
    assert not int(dut.error.value)
    dut._log.info(f"kernel_cycles host {host[3]} schedule {scheduled[3]}")


async def _at_each_kernel_end(dut, run, signal) -> list[int]:
    """``signal``'s value each time ``kernels_done`` steps while ``run`` (a started
    command coroutine) goes on; awaits ``run``."""
    values, done = [], int(dut.kernels_done.value)
    while not run.done():
        await RisingEdge(dut.clk)
        if int(dut.kernels_done.value) != done:
            done = int(dut.kernels_done.value)
            values.append(int(signal.value))
    await run
    return values


@cocotb.test()
async def prefetch(dut):
    """While a kernel runs, the next entry, program and arguments are read ahead: every
    program after the first leaves cfg_out back to back (program_cycles grows by its
    words + 1), entries without a program add none; results as the model's."""
    rng = random.Random(cocotb.RANDOM_SEED)
    await start_clock_and_reset(dut)
    bench = _Bench(dut, rng, 0.0)
    bench.ram.write(0, rng.randbytes(ERROR_BASE))
    kernels = _schedule_kernels(rng, 5)
    entries = _store_kernels(bench, kernels)
    for index, entry in enumerate(entries):
        bench.store_words(SCHEDULE_BASE + 16 * index, list(entry))
    golden = bench.memory()
    tile = cocotb.start_soon(bench.tile([(d, f, t) for _, d, f, t in kernels], delay=200))
    run = cocotb.start_soon(bench.run_commands([(Command.SCHEDULE, SCHEDULE_BASE,
                                                 len(entries))]))
    marks = [int(dut.program_cycles.value)]   # program_cycles at each kernel's end
    marks += await _at_each_kernel_end(dut, run, dut.program_cycles)
    await tile
    loads = [b - a for a, b in zip(marks, marks[1:], strict=False)]
    words = [len(program) for program, *_ in kernels]
    dut._log.info(f"program words {words}, program_cycles per kernel {loads}")
    assert len(loads) == len(kernels)
    assert words[0] < loads[0] < words[0] + 60, "first program load"
    assert loads[1:] == [w + 1 if w else 0 for w in words[1:]], (
        f"prefetched programs did not leave back to back: {loads} for {words} words")
    expected = {}
    for _, descriptors, flits, _ in kernels:
        for flow, group in expected_read_flits(golden, descriptors).items():
            expected.setdefault(flow, []).extend(group)
        apply_writes(golden, descriptors, flits)
    assert bench.memory() == golden, "memory differs from the model"
    _flows_board(expected, bench.vec_out.received, "vec_out vs model").check_done()
    assert bench.cfg_out.received == [w for program, *_ in kernels for w in program]
    assert not int(dut.error.value) and not int(dut.busy.value)


@cocotb.test()
async def errors(dut):
    """Each error case sets the sticky ``error``; nothing hangs, good data still moves.

    unknown_flow: a vec_in flit of no stream (dropped); overrun: one flit more than a WRITE
    stream's beats (dropped); axi_error: a READ stream reaching into the SLVERR window;
    bad_command: opcode 7; too_many_streams: 5 descriptors for 4 slots (the fifth ignored).
    """
    args = sim_args()
    rng = random.Random(cocotb.RANDOM_SEED)
    await start_clock_and_reset(dut)
    bench = _Bench(dut, rng, 0.3)
    bench.ram.write(0, rng.randbytes(ERROR_BASE))
    case = args["case"]
    flows = rng.sample(range(64), 5)
    stranger = next(f for f in range(64) if f not in flows)
    read_base = ERROR_BASE - 8 * BEAT if case == "axi_error" else READ_WINDOW[0]
    # with axi_error the second row of this READ lies in the SLVERR window
    read = StreamDescriptor(READ, flows[0], read_base, (6, 2, 1), (1, 8, 0))
    write = StreamDescriptor(WRITE, flows[1], WRITE_WINDOW[0], (5, 1, 1), (2, 0, 0))
    descriptors = [read, write]
    if case == "too_many_streams":
        descriptors += [StreamDescriptor(READ, flow, READ_WINDOW[0] + 0x1000 * k, (3, 1, 1),
                                         (1, 0, 0)) for k, flow in enumerate(flows[2:], 1)]
    running = descriptors[:MAX_STREAMS]
    words = argument_words(descriptors, 0)
    bench.store_words(ARGS_BASE, words)
    before = bench.memory()
    expected = expected_read_flits(before, running)
    flits = write_flits(rng, [write])
    if case == "bad_command":
        await bench.run_commands([(7, 0, 0)])
        assert int(dut.error.value), "a bad opcode did not set error"
    await bench.run_commands([(Command.ARGUMENT_LOAD, ARGS_BASE, len(words))])
    assert int(dut.error.value) == (case in ("bad_command", "too_many_streams")), (
        f"error is {int(dut.error.value)} after the argument load")
    bench.cmd.send([_pack_command(Command.KERNEL_EXECUTE)])
    await bench.vec_out.wait_for(sum(d.beats for d in running if d.direction == READ))
    sent = list(flits[write.flow])
    if case == "unknown_flow":
        sent.insert(2, _pack_flit(0xBAD, stranger, 0, 0))
    if case == "overrun":
        sent.append(_pack_flit(0xBAD, write.flow, 5, 1))
    bench.vec_in.send(sent)
    while int(dut.kernels_done.value) < 1:
        await RisingEdge(dut.clk)
    await bench.vec_in.wait_idle()
    assert int(dut.error.value), f"{case} did not set error"
    golden = bytearray(before)
    apply_writes(golden, [write], flits)
    assert bench.memory() == golden, "memory differs (a dropped flit was written?)"
    if case == "axi_error":  # the error beats still leave, with the data the slave sent (0)
        for k in range(6, 12):
            expected[read.flow][k] = _pack_flit(0, read.flow, k, int(k == 11))
    _flows_board(expected, bench.vec_out.received, "vec_out").check_done()
    await bench.run_commands([(Command.PROGRAM_LOAD, PROGRAM_BASE, 4)])  # still responsive
    assert int(dut.error.value), "error is not sticky"


@cocotb.test()
async def throughput(dut):
    """Unstalled dense streams: beats per cycle of a READ kernel, a WRITE kernel and words per
    cycle of a program load (printed; loose lower bounds asserted)."""
    rng = random.Random(cocotb.RANDOM_SEED)
    await start_clock_and_reset(dut)
    bench = _Bench(dut, rng, 0.0)
    figures = {}
    read = StreamDescriptor(READ, 1, READ_WINDOW[0], (64, 8, 1), (1, 64, 0))
    write = StreamDescriptor(WRITE, 2, WRITE_WINDOW[0], (32, 8, 1), (1, 32, 0))
    for name, descriptor in (("read", read), ("write", write)):
        words = argument_words([descriptor], 0)
        bench.store_words(ARGS_BASE, words)
        await bench.run_commands([(Command.ARGUMENT_LOAD, ARGS_BASE, len(words))])
        if descriptor.direction == WRITE:  # queued before the kernel starts
            bench.vec_in.send(write_flits(rng, [descriptor])[descriptor.flow])
        await bench.run_commands([(Command.KERNEL_EXECUTE,)])
        figures[name] = descriptor.beats / int(dut.kernel_cycles.value)
    words = 2048
    start = bench.watchdog.cycles
    await bench.run_commands([(Command.PROGRAM_LOAD, PROGRAM_BASE, words)])
    figures["program words"] = words / (bench.watchdog.cycles - start)
    dut._log.info("throughput (per cycle): " + ", ".join(
        f"{name} {value:.3f}" for name, value in figures.items()))
    # cfg_out carries one word per cycle at most
    assert figures["read"] > 0.9 and figures["write"] > 0.9 and figures["program words"] > 0.8, (
        f"throughput below bounds: {figures}")


@pytest.mark.parametrize("stall", [0.0, 0.4])
def test_program_load(stall, seed, waves, run_name):
    simulate(DESIGN, "test_agcu", testcase="program_load", run_name=run_name, seed=seed,
             waves=waves, args={"stall": stall})


@pytest.mark.parametrize("stall", [0.0, 0.4])
def test_kernel_execute(stall, seed, waves, run_name):
    simulate(DESIGN, "test_agcu", testcase="kernel_execute", run_name=run_name, seed=seed,
             waves=waves, args={"stall": stall, "kernels": 4})


@pytest.mark.parametrize("stall", [0.0, 0.3])
def test_schedule(stall, seed, waves, run_name):
    simulate(DESIGN, "test_agcu", testcase="schedule", run_name=run_name, seed=seed,
             waves=waves, args={"stall": stall, "kernels": 3})


@pytest.mark.parametrize("stall", [0.0, 0.4])
def test_schedule_long_programs(stall, seed, waves, run_name):
    """Programs of 100 to 300 words through an 8-beat prefetch buffer: reads wait for
    room, nothing is lost."""
    simulate(SMALL_BUFFER, "test_agcu", testcase="schedule", run_name=run_name, seed=seed,
             waves=waves, args={"stall": stall, "kernels": 5, "long_programs": True})


def test_program_load_small_buffer(waves, run_name):
    simulate(SMALL_BUFFER, "test_agcu", testcase="program_load", run_name=run_name, seed=1,
             waves=waves, args={"stall": 0.4})


def test_prefetch(seed, waves, run_name):
    simulate(DESIGN, "test_agcu", testcase="prefetch", run_name=run_name, seed=seed,
             waves=waves)


@pytest.mark.parametrize("case", ["unknown_flow", "overrun", "axi_error", "bad_command",
                                  "too_many_streams"])
def test_errors(case, waves, run_name):
    simulate(DESIGN, "test_agcu", testcase="errors", run_name=run_name, seed=1, waves=waves,
             args={"case": case})


def test_throughput(waves, run_name):
    simulate(DESIGN, "test_agcu", testcase="throughput", run_name=run_name, seed=1, waves=waves)
