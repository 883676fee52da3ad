"""AXI4 register slice: cocotbext-axi AxiMaster -> slice -> AxiRam with random stalls on
every channel of both sides; data bit-exact, outputs registered, a beat per cycle."""

import random

import cocotb
import pytest
from axi_common import burst_cycles, disjoint_regions, run_batch
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly, RisingEdge

from hdl.memory.axi_register_slice import CHANNELS
from testbench.bfm.axi_pauses import pause_axi_master
from testbench.bfm.clock_reset import start_clock_and_reset
from testbench.bfm.dram_tier import AxiProgress
from testbench.bfm.scoreboard import Scoreboard
from testbench.bfm.sim_io import sim_args
from testbench.bfm.watchdog import Watchdog
from testbench.sim.build_cache import Design
from testbench.sim.runner import simulate

SEEDS = [1, 2]
BEAT = 8
RAM_BYTES = 1 << 14
DESIGN = Design("axi_register_slice_top",
                "hdl.memory.axi_register_slice:make_axi_register_slice_top",
                {"data_width": BEAT * 8, "addr_width": 16, "id_width": 4})


def _ends(dut, rng: random.Random, stall: float):
    """The AxiMaster on ``s_axi`` and the AxiRam on ``m_axi``, both paused at random."""
    from cocotbext.axi import AxiBus, AxiMaster, AxiRam

    master = AxiMaster(AxiBus.from_prefix(dut, "s_axi"), dut.clk, dut.rst)
    ram = AxiRam(AxiBus.from_prefix(dut, "m_axi"), dut.clk, dut.rst, size=RAM_BYTES)
    for end in (master, ram):
        for interface in (end.read_if, end.write_if):
            interface.log.setLevel("WARNING")
        # the RAM's write_if/read_if carry the same five channels as a master's
        pause_axi_master(end, rng, stall)
    return master, ram


class _Progress(AxiProgress):
    """AxiProgress that counts started and finished transactions of the master."""

    async def run(self, operation):
        self.started += 1
        result = await operation
        self.count += 1
        return result


@cocotb.test()
async def random_traffic(dut):
    """Concurrent random bursts (full, unaligned, narrow) in batches of disjoint regions;
    every read checked against a byte model, then the RAM itself checked whole."""
    args = sim_args()
    rng = random.Random(cocotb.RANDOM_SEED)
    await start_clock_and_reset(dut)
    master, ram = _ends(dut, rng, args["stall"])
    progress = _Progress("s_axi")
    watchdog = Watchdog(dut, dut.clk, [progress], idle_cycles=2000)
    cocotb.start_soon(watchdog.run())
    golden = bytearray(RAM_BYTES)
    board = Scoreboard("reads through the slice", formatter=lambda v: v.hex()[:64])
    written = 0

    def pick():
        size = rng.choice((None, None, 0, 1, 2))
        length = rng.randint(1, BEAT * args["max_beats"])
        start = rng.randrange(RAM_BYTES - length)
        if size is not None:
            start &= ~((1 << size) - 1)
        return start, length, size

    # distinct IDs, so the master keeps several bursts in flight through the slice
    def write(start, data, size):
        return progress.run(master.write(start, data, size=size, awid=rng.randrange(16)))

    def read(start, length, size):
        return progress.run(master.read(start, length, size=size, arid=rng.randrange(16)))

    for _ in range(args["batches"]):
        regions = disjoint_regions(args["per_batch"], pick)
        written += await run_batch(rng, regions, golden, board, write, read)
    board.check_done()
    assert written > 0, "no write went through the slice"
    memory = ram.read(0, RAM_BYTES)
    assert memory == bytes(golden), (
        f"RAM differs from the model at byte "
        f"{next(i for i in range(RAM_BYTES) if memory[i] != golden[i])}")
    dut._log.info(f"{board.summary()}; {written} bytes written; {watchdog.cycles} cycles")


@cocotb.test()
async def full_throughput(dut):
    """Without stalls a 256-beat burst moves at a beat per cycle in each direction."""
    rng = random.Random(cocotb.RANDOM_SEED)
    await start_clock_and_reset(dut)
    master, _ = _ends(dut, rng, 0.0)
    cycles = await burst_cycles(dut, master, rng.randbytes(256 * BEAT))
    dut._log.info(f"256-beat bursts through the slice: {cycles}")
    assert max(cycles.values()) <= 256 + 16, f"slice throttles bursts: {cycles}"


@cocotb.test()
async def outputs_are_registered(dut):
    """Inputs change between clock edges at random; no output may follow until the next
    edge (valid, payload and ready of every channel come from flip-flops)."""
    rng = random.Random(cocotb.RANDOM_SEED)
    await start_clock_and_reset(dut)
    inputs, outputs = [], []
    for valid, ready, fields, master_driven in CHANNELS.values():
        source, sink = ("s_axi", "m_axi") if master_driven else ("m_axi", "s_axi")
        inputs += [f"{source}_{valid}", f"{sink}_{ready}"] + [f"{source}_{f}" for f in fields]
        outputs += [f"{sink}_{valid}", f"{source}_{ready}"] + [f"{sink}_{f}" for f in fields]
    handles = {name: getattr(dut, name) for name in inputs + outputs}

    def drive_random():
        for name in inputs:
            handles[name].value = rng.getrandbits(len(handles[name]))

    output_valids = [name for name in outputs if name.endswith("valid")]
    moved = 0
    for _ in range(300):
        await RisingEdge(dut.clk)
        await ReadOnly()
        before = {name: int(handles[name].value) for name in outputs}
        await FallingEdge(dut.clk)
        drive_random()
        await ReadOnly()
        changed = [name for name in outputs if int(handles[name].value) != before[name]]
        assert not changed, f"outputs changed without a clock edge: {changed}"
        moved += sum(before[name] for name in output_valids)
    assert moved > 0, "no channel ever presented a beat"
    await ClockCycles(dut.clk, 2)


@pytest.mark.parametrize("stall", [0.0, 0.5])
def test_random_traffic(stall, seed, waves, run_name):
    simulate(DESIGN, "test_axi_register_slice", testcase="random_traffic", run_name=run_name,
             seed=seed, waves=waves,
             args={"stall": stall, "batches": 10, "per_batch": 6, "max_beats": 24})


def test_full_throughput(waves, run_name):
    simulate(DESIGN, "test_axi_register_slice", testcase="full_throughput", run_name=run_name,
             seed=1, waves=waves)


def test_outputs_are_registered(seed, waves, run_name):
    simulate(DESIGN, "test_axi_register_slice", testcase="outputs_are_registered",
             run_name=run_name, seed=seed, waves=waves)
