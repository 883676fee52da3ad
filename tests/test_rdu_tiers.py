"""The RDU top with HBM and DDR tiers (preset ``coe``): kernels on HBM (and DDR), the copy
engine between the tiers, end to end through the host port; and the host's raw AXI view
of the device address map and the COPY_* registers.

Every simulation pauses the host's AXI channels at random (seeded); the meshes' credit
checker and both tiers' DRAM timing checkers must stay clean (the script fails
otherwise). Results are compared bit for bit with the golden models.
"""

import random

import cocotb
import numpy as np
import pytest
from cocotb.triggers import ClockCycles

from hdl.bus import RESP_DECERR, RESP_OKAY
from hdl.host.host_port import REGISTERS
from hdl.rdu.config import DDR_BASE, rdu_params
from hdl.rdu.tier_params import memory_tier_params
from testbench.bfm.axi_pauses import pause_axi_master
from testbench.bfm.clock_reset import start_clock_and_reset
from testbench.bfm.dram_tier import AxiProgress, TierPort
from testbench.bfm.watchdog import Watchdog
from testbench.bfm.words import assert_words_equal
from testbench.golden.fp_vectors import hard_f32_values
from testbench.programs.catalog import prepare
from testbench.programs.vector_add import (
    vector_add_arguments,
    vector_add_golden,
    vector_add_program,
)
from testbench.runtime.host_registers import copy_status_fields
from testbench.runtime.host_script import HostScript, rdu_design
from testbench.sim.runner import simulate

SEEDS = [1]
CONFIG = rdu_params("coe")
HOST_STALL = 0.3


def _ddr_bytes_per_cycle() -> float:
    return memory_tier_params(CONFIG)["ddr"].peak_bytes_per_cycle


def test_vector_add_with_tensors_in_hbm(seed, run_name, waves):
    script = HostScript(CONFIG)
    prepared = prepare("vector_add", script, np.random.default_rng(seed))
    assert prepared.out + prepared.expected.nbytes <= CONFIG.memory_bytes
    script.load(prepared.image)
    script.launch(prepared.arguments, "kernel")
    script.read("out", prepared.out, prepared.expected.size)
    result = script.run(run_name=run_name, seed=seed, waves=waves, host_stall=HOST_STALL)
    assert_words_equal(result["out"], prepared.expected, "vector_add on HBM")
    print(f"vector_add on HBM: {int(result['kernel_cycles'][1])} kernel cycles")


def test_vector_add_streams_from_ddr(seed, run_name, waves):
    """The AGCU reads the inputs from DDR and writes the sum to DDR (no copy)."""
    rng = np.random.default_rng(seed)
    vectors = 6
    a = hard_f32_values(rng, vectors * CONFIG.lanes)
    b = hard_f32_values(rng, vectors * CONFIG.lanes)
    script = HostScript(CONFIG)
    a_addr, b_addr = script.write(a, tier="ddr"), script.write(b, tier="ddr")
    out = script.allocate(a.nbytes, tier="ddr")
    assert min(a_addr, b_addr, out) >= DDR_BASE
    script.load(vector_add_program(CONFIG, vectors, units=1))
    script.launch(vector_add_arguments(CONFIG, a_addr, b_addr, out, vectors, units=1), "kernel")
    script.read("out", out, a.size)
    result = script.run(run_name=run_name, seed=seed, waves=waves, host_stall=HOST_STALL)
    assert_words_equal(result["out"], vector_add_golden(CONFIG, a, b, units=1), "vector_add on DDR")
    print(f"vector_add on DDR: {int(result['kernel_cycles'][1])} kernel cycles")


def test_experts_copied_from_ddr_then_kernel_then_result_back_to_ddr(seed, run_name, waves):
    """Inputs written to DDR, copied to HBM, added by a PCU from HBM, the sum copied to DDR."""
    config, burst = CONFIG, CONFIG.copy_burst_bytes
    rng = np.random.default_rng(seed)
    vectors = burst // (4 * config.lanes)          # one burst per input vector set
    a = hard_f32_values(rng, vectors * config.lanes)
    b = hard_f32_values(rng, vectors * config.lanes)
    filler = rng.integers(0, 1 << 32, size=(2048 - a.nbytes - b.nbytes) // 4, dtype=np.uint32)
    block = np.concatenate([a.view(np.uint32), b.view(np.uint32), filler])
    script = HostScript(config)
    ddr_block = script.write(block, "experts in DDR", tier="ddr", align=burst)
    hbm_block = script.allocate(block.nbytes, "experts in HBM", align=burst)
    assert ddr_block >= DDR_BASE and hbm_block + block.nbytes <= config.memory_bytes
    script.copy(ddr_block, hbm_block, block.nbytes, "to_hbm")
    script.read("copied", hbm_block, block.size)

    out = script.allocate(a.nbytes, "sum in HBM", align=burst)
    script.load(vector_add_program(config, vectors, units=1), name="load")
    script.launch(vector_add_arguments(config, hbm_block, hbm_block + a.nbytes, out, vectors,
                                        units=1), "kernel")
    ddr_out = script.allocate(a.nbytes, "sum in DDR", tier="ddr", align=burst)
    script.copy(out, ddr_out, a.nbytes, "to_ddr")
    script.read("sum_in_ddr", ddr_out, a.size)
    result = script.run(run_name=run_name, seed=seed, waves=waves, host_stall=HOST_STALL)

    assert_words_equal(result["copied"], block, "DDR -> HBM copy")
    assert_words_equal(result["sum_in_ddr"], vector_add_golden(config, a, b, units=1),
           "vector_add on copied inputs, copied back to DDR")
    load = result["load_window"]
    assert result["to_hbm_window"][1] <= load[0] < load[1] <= result["kernel_window"][0]
    peak = _ddr_bytes_per_cycle()
    for name, nbytes in (("to_hbm", block.nbytes), ("to_ddr", a.nbytes)):
        cycles = int(result[name][0])
        ideal = nbytes / peak
        print(f"copy {name}: {nbytes} bytes in {cycles} cycles "
              f"({nbytes / cycles:.2f} B/cycle, DDR peak {peak:.2f} B/cycle)")
        assert cycles >= ideal, f"{name}: {cycles} cycles beat the DDR peak ({ideal:.0f})"
        window = result[f"{name}_window"]
        assert cycles <= window[1] - window[0], f"{name}: longer than the host waited"


def test_host_reads_ddr_after_copy_from_hbm(seed, run_name, waves):
    """Random data placed in HBM by the host, copied to DDR, read back by the host from DDR;
    the DDR words around the copy stay as the host wrote them."""
    config, burst = CONFIG, CONFIG.copy_burst_bytes
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 1 << 32, size=3 * burst // 4, dtype=np.uint32)
    guard = rng.integers(0, 1 << 32, size=burst // 4, dtype=np.uint32)
    script = HostScript(config)
    hbm = script.write(data, "data in HBM", align=burst)
    before = script.write(guard, "guard below", tier="ddr", align=burst)
    ddr = script.allocate(data.nbytes, "copy in DDR", tier="ddr", align=burst)
    after = script.allocate(guard.nbytes, "guard above", tier="ddr", align=burst)
    script.write_at(after, guard[::-1])
    assert before + burst == ddr and ddr + data.nbytes == after
    script.copy(hbm, ddr, data.nbytes, "to_ddr")
    script.read("ddr", before, guard.size + data.size + guard.size)
    result = script.run(run_name=run_name, seed=seed, waves=waves, host_stall=HOST_STALL)
    assert_words_equal(result["ddr"], np.concatenate([guard, data, guard[::-1]]), "HBM -> DDR copy")
    assert result["to_ddr"][0] >= data.nbytes / _ddr_bytes_per_cycle()


def test_runtime_refuses_copies_the_engine_cannot_do():
    script = HostScript(CONFIG)
    burst = CONFIG.copy_burst_bytes
    with pytest.raises(ValueError, match=f"{burst}-byte burst"):
        script.copy(DDR_BASE, 0, burst + 4, "unaligned length")
    with pytest.raises(ValueError, match=f"{burst}-byte burst"):
        script.copy(DDR_BASE + 64, 0, burst, "unaligned source")
    with pytest.raises(ValueError, match="one tier to the other"):
        script.copy(0, burst, burst, "same tier")
    with pytest.raises(ValueError, match="not inside one memory tier"):
        script.copy(DDR_BASE + CONFIG.ddr_bytes, 0, burst, "past DDR")
    with pytest.raises(ValueError, match="no copy engine"):
        HostScript(rdu_params("small")).copy(DDR_BASE, 0, burst, "no tiers")
    assert not script.steps, "a refused copy became a step"


def test_coe_preset_and_tier_validation():
    assert CONFIG.memory == "tiers" and rdu_params("small").memory == "sram"
    tiers = memory_tier_params(CONFIG)
    assert tiers["hbm"].capacity == CONFIG.memory_bytes
    assert tiers["ddr"].capacity == CONFIG.ddr_bytes
    with pytest.raises(ValueError, match="memory must be one of"):
        rdu_params("small", memory="flash")
    with pytest.raises(ValueError, match="multiple of 16384"):
        rdu_params("coe", memory_bytes=1 << 13)
    with pytest.raises(ValueError, match="ddr_bytes"):
        rdu_params("coe", ddr_bytes=1 << 16)
    with pytest.raises(ValueError, match="copy_burst_bytes"):
        rdu_params("coe", copy_burst_bytes=96)
    for buffer in (128, 3000, 1 << 17):  # below one burst, not a power of two, too large
        with pytest.raises(ValueError, match="copy_buffer_bytes"):
            rdu_params("coe", copy_buffer_bytes=buffer)


# ---- raw host view: address map, narrow and unaligned bursts, COPY_* registers -------------

class _Registers:
    """cocotbext-axi AXI4-Lite master on ``s_axil_*`` with seeded pauses, watched."""

    def __init__(self, dut, rng: random.Random, stall: float):
        from cocotbext.axi import AxiLiteBus, AxiLiteMaster

        self.master = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
        for handle in (self.master.read_if, self.master.write_if):
            handle.log.setLevel("WARNING")
        pause_axi_master(self.master, rng, stall)
        self.progress = AxiProgress("s_axil")

    async def read(self, name: str) -> int:
        self.progress.started += 1
        result = await self.master.read(REGISTERS[name], 4)
        self.progress.count += 1
        assert result.resp == RESP_OKAY, f"{name}: resp {result.resp}"
        return int.from_bytes(result.data, "little")

    async def write(self, name: str, value: int) -> None:
        self.progress.started += 1
        result = await self.master.write(REGISTERS[name], value.to_bytes(4, "little"))
        self.progress.count += 1
        assert result.resp == RESP_OKAY, f"{name}: resp {result.resp}"

    async def status(self) -> dict:
        return copy_status_fields(await self.read("COPY_STATUS"))

    async def copy(self, src: int, dst: int, length: int) -> None:
        for name, value in (("COPY_SRC", src), ("COPY_DST", dst), ("COPY_LENGTH", length)):
            await self.write(name, value)
        await self.write("COPY_GO", 1)


class _Memory:
    """The host's AXI4 port and a byte model of what it wrote (both tiers)."""

    def __init__(self, dut, rng: random.Random, stall: float):
        # 16-beat bursts: a 1 KiB transfer is four bursts, in flight together
        self.port = TierPort(dut, axi="s_axi", rng=rng, stall=stall, max_burst_len=16)
        self.bytes: dict[int, int] = {}

    async def write(self, address: int, data: bytes) -> None:
        result = await self.port.write(address, data)
        assert result.resp == RESP_OKAY, f"write {address:#x}+{len(data)}: resp {result.resp}"
        self.bytes.update({address + i: value for i, value in enumerate(data)})

    async def check(self, address: int, length: int, what: str) -> None:
        result = await self.port.read(address, length)
        assert result.resp == RESP_OKAY, f"{what}: read resp {result.resp}"
        want = bytes(self.bytes[address + i] for i in range(length))
        got = bytes(result.data)
        assert got == want, f"{what}: read {address:#x}+{length}: {got.hex()} != {want.hex()}"


@cocotb.test()
async def host_view_of_the_tiers(dut):
    rng = random.Random(cocotb.RANDOM_SEED)
    await start_clock_and_reset(dut)
    memory = _Memory(dut, random.Random(rng.getrandbits(32)), HOST_STALL)
    registers = _Registers(dut, random.Random(rng.getrandbits(32)), HOST_STALL)
    watchdog = Watchdog(dut, dut.clk, [memory.port.progress, registers.progress],
                        idle_cycles=5000)
    cocotb.start_soon(watchdog.run())
    window = 1024
    bases = (0, CONFIG.memory_bytes - window, DDR_BASE, DDR_BASE + CONFIG.ddr_bytes - window)

    # every byte of four windows (both ends of both tiers), then unaligned narrow traffic
    for base in bases:
        await memory.write(base, rng.randbytes(window))
    for _ in range(48):
        base = rng.choice(bases)
        address, length = base + rng.randrange(window - 80), rng.randrange(1, 80)
        if rng.random() < 0.5:
            await memory.write(address, rng.randbytes(length))
        else:
            await memory.check(address, length, "random access")
    for base in bases:
        await memory.check(base, window, "window")
    # many transfers at once: reads of every window while other bytes of the windows are
    # rewritten (disjoint halves), then all of it read back
    tasks = []
    for base in bases:
        tasks.append(cocotb.start_soon(memory.check(base, window // 2, "concurrent read")))
        tasks.append(cocotb.start_soon(memory.write(base + window // 2,
                                                    rng.randbytes(window // 2))))
    for task in tasks:
        await task
    for base in bases:
        await memory.check(base, window, "window after concurrent traffic")

    # outside the map: DECERR, reads zero, nothing written. A transfer across a tier's
    # end is two bursts (it crosses a 4 KiB boundary): the first inside, the second not.
    for address in (CONFIG.memory_bytes - 16, DDR_BASE - 64, DDR_BASE + CONFIG.ddr_bytes - 16,
                    0x2000_0000):
        inside = 16 if address in (CONFIG.memory_bytes - 16,
                                   DDR_BASE + CONFIG.ddr_bytes - 16) else 0
        want = bytes(memory.bytes[address + i] for i in range(inside)) + bytes(32 - inside)
        read = await memory.port.read(address, 32)
        assert read.resp == RESP_DECERR and bytes(read.data) == want, (
            f"read {address:#x}: resp {read.resp}, data {bytes(read.data).hex()}")
        wrote = await memory.port.write(address + inside, bytes(32 - inside))
        assert wrote.resp == RESP_DECERR, f"write {address:#x}: resp {wrote.resp}"
    await memory.check(CONFIG.memory_bytes - 16, 16, "HBM end after a refused write")
    await memory.check(DDR_BASE + CONFIG.ddr_bytes - 16, 16, "DDR end after a refused write")

    # copy requests the RTL refuses: counted as errors, nothing copied
    burst = CONFIG.copy_burst_bytes
    before = await registers.status()
    await registers.copy(0x1234_5678, 0x9ABC_DEF0, 0x0F0F_0F0F)
    assert [await registers.read(name) for name in ("COPY_SRC", "COPY_DST", "COPY_LENGTH")] == [
        0x1234_5678, 0x9ABC_DEF0, 0x0F0F_0F0F]
    refused = [(0, burst, burst),                                       # both in HBM
               (DDR_BASE + 64, 0, burst),                               # not burst-aligned
               (DDR_BASE, CONFIG.memory_bytes - burst, 2 * burst)]      # past the HBM end
    for src, dst, length in refused:
        await registers.copy(src, dst, length)
    await ClockCycles(dut.clk, 4)
    after = await registers.status()
    assert after["errors"] == (before["errors"] + len(refused) + 1) % 256, (before, after)
    assert after["copies"] == before["copies"] and not after["busy"], (before, after)
    await memory.check(0, burst, "HBM after refused copies")

    # a copy requested while the host's bursts are in flight: it waits for them, and they
    # for it; both land
    source, destination = DDR_BASE, CONFIG.memory_bytes - window
    host_data = rng.randbytes(window)
    traffic = cocotb.start_soon(memory.write(0, host_data))
    await ClockCycles(dut.clk, rng.randrange(1, 40))
    await registers.copy(source, destination, window)
    await traffic
    while True:
        status = await registers.status()
        if status["copies"] == (after["copies"] + 1) % 65536 and not status["busy"]:
            break
        await ClockCycles(dut.clk, 8)
    assert status["errors"] == after["errors"], status
    cycles = await registers.read("COPY_CYCLES")
    assert window / memory_tier_params(CONFIG)["ddr"].peak_bytes_per_cycle <= cycles < 5000
    memory.bytes.update({destination + i: memory.bytes[source + i] for i in range(window)})
    await memory.check(destination, window, "copied window")
    await memory.check(0, window, "host burst during the copy request")
    assert not status["memory_error"], "a DRAM timing checker fired"
    assert not await registers.read("STATUS") & 2, "STATUS.error set"
    dut._log.info(f"copy of {window} bytes DDR -> HBM: {cycles} cycles")


def test_host_view_of_the_tiers(seed, run_name, waves):
    simulate(rdu_design(CONFIG), "test_rdu_tiers", testcase="host_view_of_the_tiers",
             run_name=run_name, seed=seed, waves=waves)
