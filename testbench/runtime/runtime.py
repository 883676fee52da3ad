"""The runtime: the one way tests, the CLI and the CoE driver reach an RDU.

It talks to the RDU top only through its host ports, as a host would: AXI4-Lite
(``s_axil_*``) for commands and status, AXI4 (``s_axi_*``) for device memory,
reached through a transport (:mod:`.transport`: cocotbext-axi masters by default,
or the FPGA's UART host bridge).
Everything is a cocotb coroutine; create one :class:`Runtime` per simulation
after the clock and reset are running.

A program is loaded from its image (checked first: magic, version, checksum,
the RDU configuration it was built for); a kernel launch is an argument block
(stream descriptors and the expected done tokens, see
:mod:`hdl.agcu.arguments`) followed by Kernel Execute. ``run_schedule`` hands a
whole list of (program, arguments) to the AGCU to run hardware-orchestrated.
With memory="tiers", ``copy`` moves data between the DDR and HBM tiers with the
copy engine (COPY_* registers) and returns its cycle count.
"""

from dataclasses import dataclass

import numpy as np
from cocotb.triggers import FallingEdge, First, RisingEdge, Timer
from cocotb.utils import get_sim_time

from hdl.agcu.commands import Command
from hdl.rdu.config import RDUParams

from . import host_registers as reg
from .image import ImageError, ProgramImage
from .memory_map import (
    DeviceMemory,
    OutOfDeviceMemory,
    beat_rounded_bytes,
    check_copy,
    command_region,
)
from .transport import AxiTransport

#: the clock period of every testbench (testbench.bfm.clock_reset)
_PERIOD_NS = 10

__all__ = ["Runtime", "RuntimeTimeout", "DeviceError", "Launch"]


class RuntimeTimeout(AssertionError):
    """The RDU did not finish within the watchdog's cycle budget."""


class DeviceError(RuntimeError):
    """The RDU raised its error flag."""


@dataclass(frozen=True)
class Launch:
    """What one kernel (or schedule) cost, seen from the host and from the AGCU."""

    host_cycles: int      # from the doorbell write to the host seeing completion
    kernel_cycles: int    # the AGCU's count for its last kernel
    program_cycles: int = 0  # a schedule's: the AGCU's cycles loading its programs


class Runtime:
    """Host API of one RDU top in a cocotb simulation."""

    def __init__(self, dut, config: RDUParams, *, timeout_cycles: int = 200_000,
                 poll_cycles: int = 8, stall: float = 0.0, seed: int = 1, transport=None,
                 prefix: str = ""):
        """``transport``: how registers and device memory are reached (see
        :mod:`.transport`); by default cocotbext-axi masters on the top's ports, whose
        channels pause in a cycle with probability ``stall`` (seeded). ``prefix``: the
        top's port names start with it (``"s<k>_"``: socket k of a system top).

        Waiting for the device costs no Python per cycle: the runtime sleeps until the
        top's ``busy`` (or ``copy_busy``) falls or an error level rises, then reads the
        status registers as a host woken by an interrupt would; where the level is not
        yet up it checks again every ``poll_cycles``."""
        self.dut, self.config = dut, config
        self.timeout_cycles, self.poll_cycles = timeout_cycles, poll_cycles
        self.transport = transport or AxiTransport(dut, stall=stall, seed=seed, prefix=prefix)
        self.beat_bytes = config.vector_bits // 8
        base, size = command_region(config.memory_bytes)
        self.commands = DeviceMemory(size, self.beat_bytes, base)
        self._busy = getattr(dut, f"{prefix}busy")
        self._copy_busy = getattr(dut, f"{prefix}copy_busy", None)
        self._errors = [getattr(dut, f"{prefix}{name}") for name in
                        ("error", "config_error", "credit_error") if hasattr(dut, prefix + name)]
        self._start_ns = None
        self._program_region = {}

    async def start(self) -> None:
        """Start the host's cycle count (call once, after reset)."""
        self._start_ns = get_sim_time("ns")

    @property
    def cycle(self) -> int:
        """Rising clock edges since :meth:`start` (from simulated time: nothing runs per
        cycle to count them)."""
        if self._start_ns is None:
            return 0
        return int(get_sim_time("ns") - self._start_ns) // _PERIOD_NS

    async def _sleep_while(self, level, start: int) -> None:
        """Until ``level`` falls, an error level rises or the watchdog budget that began
        at cycle ``start`` runs out; a short poll interval if ``level`` is already low."""
        if level is None or not level.value:
            await Timer(self.poll_cycles * _PERIOD_NS, unit="ns")
            return
        left = max(self.timeout_cycles - (self.cycle - start), 0) + 1
        await First(FallingEdge(level), Timer(left * _PERIOD_NS, unit="ns"),
                    *[RisingEdge(error) for error in self._errors])

    # -- device memory ---------------------------------------------------------------------
    async def write(self, address: int, array) -> None:
        """Write an array's bytes (little-endian) at ``address``."""
        await self.transport.write_memory(address, np.ascontiguousarray(array).tobytes())

    async def read(self, address: int, count: int, dtype=np.uint32) -> np.ndarray:
        """Read ``count`` elements of ``dtype`` from ``address``."""
        dtype = np.dtype(dtype)
        data = await self.transport.read_memory(address, count * dtype.itemsize)
        return np.frombuffer(data, dtype=dtype).copy()

    async def write_words(self, words) -> int:
        """Place 32-bit words in freshly allocated device memory; return their address."""
        blob = np.asarray(list(words), dtype="<u4")
        address = self.commands.allocate(blob.nbytes, "command words")
        await self.write(address, blob)
        return address

    # -- registers ---------------------------------------------------------------------------
    async def register(self, offset: int) -> int:
        return await self.transport.read_register(offset)

    async def counters(self) -> np.ndarray:
        """Every unit's (busy, input stall, output stall) cycle counts, shape (units, 3)."""
        units = len(self.config.units())
        values = [await self.register(reg.COUNTERS + 4 * i) for i in range(3 * units)]
        return np.array(values, dtype=np.int64).reshape(units, 3)

    # -- copy engine (memory="tiers") ----------------------------------------------------------
    def check_copy(self, src: int, dst: int, nbytes: int) -> None:
        """ValueError unless the copy engine can run this copy (see :meth:`copy`)."""
        check_copy(self.config, src, dst, nbytes)

    async def copy(self, src: int, dst: int, nbytes: int) -> int:
        """Copy ``nbytes`` from ``src`` to ``dst`` (one in DDR, the other in HBM) with the
        copy engine; wait for it and return the copy's length in cycles (COPY_CYCLES).

        ValueError before anything reaches the RDU if the copy is not possible
        (no tiers, not one address in each tier, out of range, or addresses/length
        not multiples of ``copy_burst_bytes``); DeviceError if the engine counted an
        error or a DRAM timing checker fired; RuntimeTimeout after ``timeout_cycles``.
        """
        self.check_copy(src, dst, nbytes)
        before = reg.copy_status_fields(await self.register(reg.COPY_STATUS))
        await self.transport.write_register(reg.COPY_SRC, src)
        await self.transport.write_register(reg.COPY_DST, dst)
        await self.transport.write_register(reg.COPY_LENGTH, nbytes)
        await self.transport.write_register(reg.COPY_GO, 1)
        start = self.cycle
        what = f"copy of {nbytes} bytes {src:#x} -> {dst:#x}"
        while True:
            status = reg.copy_status_fields(await self.register(reg.COPY_STATUS))
            if status["memory_error"]:
                raise DeviceError(f"{what}: a DRAM timing checker fired ({status})")
            if status["errors"] != before["errors"]:
                raise DeviceError(f"{what}: the copy engine counted "
                                  f"{(status['errors'] - before['errors']) % 256} error(s)")
            if not status["busy"] and status["copies"] != before["copies"]:
                return await self.register(reg.COPY_CYCLES)
            if self.cycle - start > self.timeout_cycles:
                raise RuntimeTimeout(f"{what}: not finished after {self.timeout_cycles} "
                                     f"cycles ({status})")
            await self._sleep_while(self._copy_busy, start)

    # -- commands ----------------------------------------------------------------------------
    async def _command(self, op: Command, address: int, length: int) -> None:
        await self.transport.write_register(reg.CMD_OP, int(op))
        await self.transport.write_register(reg.CMD_ADDR, address)
        await self.transport.write_register(reg.CMD_LENGTH, length)
        await self.transport.write_register(reg.DOORBELL, 1)

    async def _wait_commands(self, expected: int, what: str) -> None:
        """Until ``expected`` commands are done. The watchdog is on progress: a schedule
        of many kernels may run far longer than ``timeout_cycles``, so the budget starts
        again whenever a kernel has finished since the last look (a hang is reported
        within two budgets)."""
        start, kernels_seen = self.cycle, None
        while True:
            done = await self.register(reg.COMMANDS_DONE)
            status = await self.register(reg.STATUS)
            if status & reg.STATUS_ERROR:
                raise DeviceError(f"{what}: the RDU raised its error flag "
                                  f"(status {status:#x}, {done} commands done)")
            if done >= expected and not status & reg.STATUS_BUSY:
                return
            if self.cycle - start > self.timeout_cycles:
                kernels = await self.register(reg.KERNELS_DONE)
                if kernels == kernels_seen:
                    raise RuntimeTimeout(
                        f"{what}: not finished, and no kernel finished in the last "
                        f"{self.timeout_cycles} cycles ({done} of {expected} commands done, "
                        f"status {status:#x}, kernels done {kernels})")
                start, kernels_seen = self.cycle, kernels
            await self._sleep_while(self._busy, start)

    async def _run(self, commands, what: str) -> Launch:
        base = await self.register(reg.COMMANDS_DONE)
        start = self.cycle
        for op, address, length in commands:
            await self._command(op, address, length)
        await self._wait_commands(base + len(commands), what)
        return Launch(self.cycle - start, await self.register(reg.KERNEL_CYCLES))

    @staticmethod
    def _image(image) -> ProgramImage:
        if isinstance(image, (bytes, bytearray)):
            return ProgramImage.from_bytes(bytes(image))
        if not isinstance(image, ProgramImage):
            raise ImageError(f"expected a ProgramImage or its bytes, not {type(image).__name__}")
        return image

    async def _program_address(self, image: ProgramImage) -> int:
        """Where ``image`` is resident in the command region, writing it there first if
        it is not (the caller has made sure it fits)."""
        if image not in self._program_region:
            self._program_region[image] = await self.write_words(image.words)
        return self._program_region[image]

    def _bytes(self, words: int) -> int:
        return beat_rounded_bytes(words, self.beat_bytes)

    def _evict_programs(self) -> None:
        """Forget every resident program (called only between commands, when no argument
        block or schedule table is live)."""
        self.commands.reset()
        self._program_region.clear()

    def _fitting_prefix(self, kernels) -> int:
        """How many leading ``kernels`` one SCHEDULE can hold in the free command region:
        programs not yet resident, argument blocks and the table."""
        free, new, used = self.commands.free(), set(), self._bytes(0)
        for count, (image, arguments) in enumerate(kernels):
            used += self._bytes(len(arguments)) + self._bytes(4 * (count + 1)) \
                - self._bytes(4 * count)
            if image is not None and image not in self._program_region and image not in new:
                new.add(image)
                used += self._bytes(len(image.words))
            if used > free:
                return count
        return len(kernels)

    async def load_program(self, image) -> Launch:
        """Check ``image`` and configure the tile with it (Program Load)."""
        image = self._image(image)
        image.check_for(self.config)
        if image not in self._program_region and \
                self.commands.free() < self._bytes(len(image.words)):
            self._evict_programs()
        address = await self._program_address(image)
        return await self._run([(Command.PROGRAM_LOAD, address, len(image.words))],
                               "program load")

    async def launch(self, arguments) -> Launch:
        """Argument Load + Kernel Execute of one kernel, software-orchestrated."""
        words = list(arguments)
        if self.commands.free() < self._bytes(len(words)):
            self._evict_programs()  # the tile keeps its configuration
        mark = self.commands.mark()  # the argument block is dead once the kernel is done
        address = await self.write_words(words)
        launch = await self._run([(Command.ARGUMENT_LOAD, address, len(words)),
                                  (Command.KERNEL_EXECUTE, 0, 0)], "kernel")
        self.commands.release(mark)
        return launch

    async def run_schedule(self, kernels) -> Launch:
        """Run ``[(image or None, arguments), ...]`` hardware-orchestrated.

        ``None`` keeps the program loaded by the previous entry. Programs stay resident
        in the command region and are reused by address. A schedule larger than the free
        region runs as several SCHEDULE commands back to back, each as long as fits
        (evicting resident programs when not even one entry fits); the tile keeps its
        configuration between them, so ``None`` still means the previous entry's program.
        The launch's host cycles cover them all, its kernel cycles are the last kernel's,
        its program cycles (PROGRAM_CYCLES) those the AGCU spent loading programs.
        OutOfDeviceMemory if one entry alone is larger than the whole region.
        """
        entries = []
        for image, arguments in kernels:
            if image is not None:
                image = self._image(image)
                image.check_for(self.config)
            entries.append((image, [int(word) for word in arguments]))
        start, launch = self.cycle, None
        programs_before = await self.register(reg.PROGRAM_CYCLES)
        while entries:
            count = self._fitting_prefix(entries)
            if count == 0:
                self._evict_programs()
                count = self._fitting_prefix(entries)
            if count == 0:
                image, arguments = entries[0]
                raise OutOfDeviceMemory(
                    f"a schedule entry needs {self._bytes(len(image.words)) if image else 0} "
                    f"bytes of program and {self._bytes(len(arguments))} of arguments; the "
                    f"command region holds {self.commands.size} bytes")
            launch = await self._run_schedule_once(entries[:count])
            entries = entries[count:]
        program_cycles = (await self.register(reg.PROGRAM_CYCLES) - programs_before) % (1 << 32)
        return Launch(self.cycle - start, launch.kernel_cycles if launch else 0, program_cycles)

    async def _run_schedule_once(self, entries) -> Launch:
        """One SCHEDULE command over ``entries``, which :meth:`_fitting_prefix` said fit.
        The argument blocks and the table go to the device in one write (each block
        beat-aligned, as :meth:`_fitting_prefix` counted them)."""
        programs = [(0, 0) if image is None else
                    (await self._program_address(image), len(image.words))
                    for image, _ in entries]
        mark = self.commands.mark()  # argument blocks and the table: dead once it is done
        beat_words = self.beat_bytes // 4
        blob, table = [], []
        base = self.commands.allocate(
            sum(self._bytes(len(words)) for _, words in entries)
            + self._bytes(4 * len(entries)), "schedule arguments and table")
        for (program_address, program_words), (_, words) in zip(programs, entries,
                                                                strict=True):
            table += [program_address, program_words, base + 4 * len(blob), len(words)]
            blob += words + [0] * (-len(words) % beat_words)
        address = base + 4 * len(blob)
        await self.write(base, np.asarray(blob + table, dtype="<u4"))
        launch = await self._run([(Command.SCHEDULE, address, len(entries))], "schedule")
        self.commands.release(mark)
        return launch
