"""Host port: AXI4-Lite register file, doorbell into the command stream, error responses."""

import random

import cocotb
from cocotb.triggers import ClockCycles, RisingEdge

from hdl.agcu.commands import Command
from hdl.host.host_port import COUNTER_BASE, HOST_PORT_ID, REGISTERS
from testbench.bfm.clock_reset import start_clock_and_reset
from testbench.bfm.dram_tier import AxiProgress
from testbench.bfm.scoreboard import Scoreboard
from testbench.bfm.stream import StreamSink
from testbench.bfm.watchdog import Watchdog
from testbench.sim.build_cache import Design
from testbench.sim.runner import simulate

SEEDS = [1, 2]
COUNTERS = 4
DESIGN = Design("host_port_top", "hdl.host.host_port:make_host_port_top", {"counters": COUNTERS})
RESP_OKAY, RESP_SLVERR = 0, 2


def _pack_command(op: int, addr: int, length: int) -> int:
    return op | addr << 4 | length << 36


class _Host:
    """cocotbext-axi AXI4-Lite master with seeded stalls, counted for the watchdog."""

    def __init__(self, dut, rng: random.Random, stall: float):
        from cocotbext.axi import AxiLiteBus, AxiLiteMaster

        self.master = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
        for handle in (self.master.read_if, self.master.write_if):
            handle.log.setLevel("WARNING")
        for channel in (self.master.write_if.aw_channel, self.master.write_if.w_channel,
                        self.master.write_if.b_channel, self.master.read_if.ar_channel,
                        self.master.read_if.r_channel):
            pause_rng = random.Random(rng.getrandbits(32))
            channel.set_pause_generator(iter(lambda r=pause_rng: r.random() < stall, None))
        self.progress = AxiProgress("s_axil")

    async def read(self, address: int):
        self.progress.started += 1
        result = await self.master.read(address, 4)
        self.progress.count += 1
        return int.from_bytes(result.data, "little"), result.resp

    async def write(self, address: int, value: int, length: int = 4):
        self.progress.started += 1
        result = await self.master.write(address, value.to_bytes(length, "little"))
        self.progress.count += 1
        return result.resp


@cocotb.test()
async def registers_and_doorbell(dut):
    """Every register reads back what drives it; doorbells queue commands in order."""
    rng = random.Random(cocotb.RANDOM_SEED)
    await start_clock_and_reset(dut)
    host = _Host(dut, rng, stall=0.3)
    sink = StreamSink(dut, "cmd", dut.clk, random.Random(rng.getrandbits(32)), stall=0.5)
    watchdog = Watchdog(dut, dut.clk, [host.progress, sink], idle_cycles=2000)
    cocotb.start_soon(watchdog.run())

    value, resp = await host.read(REGISTERS["ID"])
    assert (value, resp) == (HOST_PORT_ID, RESP_OKAY), f"ID read {value:#x} resp {resp}"
    counters = [rng.getrandbits(32) for _ in range(COUNTERS)]
    dut.counters.value = sum(c << (32 * i) for i, c in enumerate(counters))
    inputs = {"KERNELS_DONE": rng.getrandbits(32), "COMMANDS_DONE": rng.getrandbits(32),
              "KERNEL_CYCLES": rng.getrandbits(32), "PROGRAM_CYCLES": rng.getrandbits(32)}
    for name, number in inputs.items():
        getattr(dut, name.lower()).value = number
    for busy, error in ((0, 0), (1, 0), (0, 1), (1, 1)):
        dut.busy.value, dut.error.value = busy, error
        value, _ = await host.read(REGISTERS["STATUS"])
        assert value == busy | error << 1, f"STATUS {value:#x} for busy={busy} error={error}"
    for name, number in inputs.items():
        value, resp = await host.read(REGISTERS[name])
        assert (value, resp) == (number, RESP_OKAY), f"{name} read {value:#x}, drove {number:#x}"
    for i, number in enumerate(counters):
        value, resp = await host.read(COUNTER_BASE + 4 * i)
        assert (value, resp) == (number, RESP_OKAY), f"counter {i} read {value:#x}"
    first, _ = await host.read(REGISTERS["CYCLE"])
    await ClockCycles(dut.clk, 50)
    second, _ = await host.read(REGISTERS["CYCLE"])
    assert 50 < (second - first) % (1 << 32) < 200, f"CYCLE went {first} -> {second}"

    # byte strobes on a command register
    await host.write(REGISTERS["CMD_ADDR"], 0x11223344)
    assert await host.write(REGISTERS["CMD_ADDR"] + 1, 0xAB, length=1) == RESP_OKAY
    value, _ = await host.read(REGISTERS["CMD_ADDR"])
    assert value == 0x1122AB44, f"CMD_ADDR after a one-byte write: {value:#x}"

    board = Scoreboard("commands")
    sink.on_beat = board.receive
    for _ in range(12):
        op = rng.choice(list(Command))
        addr, length = rng.getrandbits(32), rng.getrandbits(32)
        board.expect([_pack_command(op, addr, length)])
        for name, number in (("CMD_OP", op), ("CMD_ADDR", addr), ("CMD_LENGTH", length)):
            assert await host.write(REGISTERS[name], number) == RESP_OKAY
        assert await host.write(REGISTERS["DOORBELL"], 1) == RESP_OKAY
    await ClockCycles(dut.clk, 20)
    board.check_done()
    dut._log.info(board.summary())


@cocotb.test()
async def doorbell_waits_for_ready(dut):
    """While ``cmd`` is not ready the doorbell's B response does not come."""
    await start_clock_and_reset(dut)
    host = _Host(dut, random.Random(1), stall=0.0)
    dut.cmd__ready.value = 0
    await host.write(REGISTERS["CMD_OP"], int(Command.KERNEL_EXECUTE))
    ring = cocotb.start_soon(host.write(REGISTERS["DOORBELL"], 1))
    await ClockCycles(dut.clk, 100)
    assert not ring.done(), "the doorbell completed although cmd was never ready"
    assert int(dut.cmd__valid.value) == 1, "cmd not valid while the doorbell waits"
    dut.cmd__ready.value = 1
    await RisingEdge(dut.clk)
    dut.cmd__ready.value = 0
    assert await ring == RESP_OKAY
    assert int(dut.cmd__valid.value) == 0, "cmd stayed valid after the handshake"


@cocotb.test()
async def unmapped_addresses(dut):
    """Unmapped reads answer SLVERR with 0; unmapped writes answer SLVERR and change nothing."""
    rng = random.Random(cocotb.RANDOM_SEED)
    await start_clock_and_reset(dut)
    host = _Host(dut, rng, stall=0.3)
    await host.write(REGISTERS["CMD_LENGTH"], 0xCAFE)
    for address in (0x28, 0x80, 0xFC, COUNTER_BASE + 4 * COUNTERS, 0xFFC):
        value, resp = await host.read(address)
        assert (value, resp) == (0, RESP_SLVERR), f"read {address:#x}: {value:#x} resp {resp}"
        assert await host.write(address, 0xFFFFFFFF) == RESP_SLVERR, f"write {address:#x}"
    value, resp = await host.read(REGISTERS["CMD_LENGTH"])
    assert (value, resp) == (0xCAFE, RESP_OKAY)
    assert int(dut.cmd__valid.value) == 0, "an unmapped write rang the doorbell"


def _run(testcase, seed, waves, run_name):
    simulate(DESIGN, "test_host_port", testcase=testcase, run_name=run_name, seed=seed,
             waves=waves)


def test_registers_and_doorbell(seed, waves, run_name):
    _run("registers_and_doorbell", seed, waves, run_name)


def test_doorbell_waits_for_ready(waves, run_name):
    _run("doorbell_waits_for_ready", 1, waves, run_name)


def test_unmapped_addresses(seed, waves, run_name):
    _run("unmapped_addresses", seed, waves, run_name)
