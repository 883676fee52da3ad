"""Bump allocator over a region of the RDU's device memory, in whole AXI beats.

The runtime keeps the top quarter of device memory (HBM, with memory="tiers") for
what it writes itself (program images, argument blocks, schedules); tensors live
below :func:`tensor_region`'s end, and with memory="tiers" also in the DDR tier
(:func:`ddr_region`).
"""

from hdl.rdu.config import DDR_BASE, RDUParams

__all__ = ["DeviceMemory", "OutOfDeviceMemory", "tensor_region", "command_region",
           "ddr_region", "tier_of", "check_copy", "check_preload", "beat_rounded_bytes",
           "schedule_entry_bytes", "check_schedule_fits"]


def tensor_region(memory_bytes: int) -> tuple[int, int]:
    """(base, size) of the part of device memory for tensors."""
    return 0, memory_bytes * 3 // 4


def command_region(memory_bytes: int) -> tuple[int, int]:
    """(base, size) of the part the runtime uses for programs and arguments."""
    base = memory_bytes * 3 // 4
    return base, memory_bytes - base


def beat_rounded_bytes(words: int, beat_bytes: int) -> int:
    """Bytes that ``words`` 32-bit words take in device memory, rounded up to whole beats."""
    return -(-4 * words // beat_bytes) * beat_bytes


def schedule_entry_bytes(beat_bytes: int, program_words: int, argument_words: int) -> int:
    """Command-region bytes one schedule entry needs on its own: its program (0 words
    when the entry keeps the program already loaded), its argument block and its
    4-word line of the schedule table, each rounded up to whole beats."""
    return sum(beat_rounded_bytes(words, beat_bytes)
               for words in (program_words, argument_words, 4))


def check_schedule_fits(config: RDUParams, entries) -> None:
    """OutOfDeviceMemory, before any simulation, if one entry of a hardware-orchestrated
    schedule (``(program_words, argument_words)`` pairs) cannot fit in the command region
    even when it is empty. A schedule larger than the region as a whole still runs: the
    runtime splits it into schedules that fit."""
    _, size = command_region(config.memory_bytes)
    beat = config.vector_bits // 8
    for index, (program_words, argument_words) in enumerate(entries):
        need = schedule_entry_bytes(beat, program_words, argument_words)
        if need > size:
            raise OutOfDeviceMemory(
                f"schedule entry {index} needs {need} bytes of the command region "
                f"(program {4 * program_words} B, arguments {4 * argument_words} B, table "
                f"16 B); the region (top quarter of the {config.memory_bytes}-byte device "
                f"memory) holds {size} bytes")


def ddr_region(config: RDUParams) -> tuple[int, int]:
    """(base, size) of the DDR tier in device addresses; ValueError without memory="tiers"."""
    if config.memory != "tiers":
        raise ValueError(f"this RDU has no DDR tier (memory={config.memory!r}; "
                         f"use memory='tiers', e.g. the 'coe' preset)")
    return DDR_BASE, config.ddr_bytes


def tier_of(config: RDUParams, address: int, nbytes: int) -> str:
    """``"hbm"`` or ``"ddr"``: which tier holds ``[address, address + nbytes)`` whole;
    ValueError if none does (memory="sram": only ``"hbm"``, the on-chip memory)."""
    if 0 <= address and address + nbytes <= config.memory_bytes:
        return "hbm"
    if (config.memory == "tiers" and DDR_BASE <= address
            and address + nbytes <= DDR_BASE + config.ddr_bytes):
        return "ddr"
    raise ValueError(f"[{address:#x}, {address + nbytes:#x}) is not inside one memory tier")


def check_copy(config: RDUParams, src: int, dst: int, nbytes: int) -> None:
    """ValueError unless the copy engine of ``config`` can copy ``nbytes`` from ``src`` to
    ``dst``: memory="tiers", one range in each tier, every number a multiple of
    ``copy_burst_bytes``."""
    if config.memory != "tiers":
        raise ValueError(f"this RDU has no copy engine (memory={config.memory!r}; "
                         f"use memory='tiers', e.g. the 'coe' preset)")
    burst = config.copy_burst_bytes
    for name, value in (("source address", src), ("destination address", dst),
                        ("length", nbytes)):
        if value % burst:
            raise ValueError(f"copy {name} {value:#x} is not a multiple of the copy engine's "
                             f"{burst}-byte burst")
    if nbytes <= 0:
        raise ValueError(f"copy length must be positive, not {nbytes}")
    tiers = {tier_of(config, src, nbytes), tier_of(config, dst, nbytes)}
    if tiers != {"hbm", "ddr"}:
        raise ValueError(f"a copy goes from one tier to the other; {src:#x} and {dst:#x} "
                         f"are both in {tiers.pop()}")


def check_preload(config: RDUParams, address: int, nbytes: int) -> str:
    """The tier (``"hbm"`` or ``"ddr"``) a backdoor preload of ``nbytes`` at ``address``
    writes; ValueError unless ``config`` has memory tiers (the backdoor is theirs) and
    the range is non-empty and inside one tier. Any alignment: the player
    read-modify-writes the device words the range covers in part."""
    if config.memory != "tiers":
        raise ValueError(f"this RDU has no memory tiers to preload through a backdoor "
                         f"(memory={config.memory!r}; use memory='tiers', e.g. the 'coe' "
                         f"preset, or write through the host port)")
    if nbytes <= 0:
        raise ValueError(f"a preload needs at least one byte, not {nbytes}")
    try:
        return tier_of(config, address, nbytes)
    except ValueError as error:
        raise ValueError(f"cannot preload {error} (HBM [0, {config.memory_bytes:#x}), DDR "
                         f"[{DDR_BASE:#x}, {DDR_BASE + config.ddr_bytes:#x}))") from None


class OutOfDeviceMemory(MemoryError):
    """The device memory cannot hold what was asked for."""


class DeviceMemory:
    """Hands out beat-aligned regions of ``[base, base + size)``; ``release(mark)`` frees
    what was allocated since ``mark()``, ``reset()`` everything."""

    def __init__(self, size: int, beat_bytes: int, base: int = 0):
        self.base, self.size, self.beat_bytes = base, size, beat_bytes
        self._next = base

    def allocate(self, nbytes: int, what: str = "buffer", align: int = 1) -> int:
        """``nbytes`` (rounded up to whole beats) at a multiple of ``align`` bytes
        (a power of two; beats are aligned anyway)."""
        if nbytes <= 0:
            raise ValueError(f"cannot allocate {nbytes} bytes for {what}")
        if align < 1 or align & (align - 1):
            raise ValueError(f"alignment must be a power of two, not {align}")
        start = -(-self._next // align) * align
        end = start + -(-nbytes // self.beat_bytes) * self.beat_bytes
        if end > self.base + self.size:
            raise OutOfDeviceMemory(f"{what} needs {nbytes} bytes; "
                                    f"{self.base + self.size - start} of {self.size} bytes "
                                    f"of this device-memory region are free")
        self._next = end
        return start

    def free(self) -> int:
        """Bytes still free at the top of the region."""
        return self.base + self.size - self._next

    def mark(self) -> int:
        """The allocation point now, to :meth:`release` back to."""
        return self._next

    def release(self, mark: int) -> None:
        """Free everything allocated since :meth:`mark` returned ``mark``."""
        if not self.base <= mark <= self._next:
            raise ValueError(f"release to {mark:#x}: not a mark of this region "
                             f"({self.base:#x}..{self._next:#x} allocated)")
        self._next = mark

    def reset(self) -> None:
        self._next = self.base
