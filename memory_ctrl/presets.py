"""DRAM timing presets as data, every number with its source.

All timings are in cycles of the device's command clock (tCK). One DRAM cycle of
a tier is one tCK of its preset: a fabric cycle, or, with the tier's
``clock_enable = (k, n)``, one of the k enabled cycles in every n fabric cycles
(see :mod:`memory_ctrl.tier`).

The data path moves one *atom* per column command: bus width x burst length
(HBM2: 128 bit x BL4 = 64 B; DDR4 x64: 64 bit x BL8 = 64 B), which occupies the
data bus for ``burst_cycles`` = BL/2 clock cycles (double data rate).
"""

import dataclasses
from dataclasses import dataclass, field

__all__ = ["DramPreset", "PRESETS", "preset", "HBM2", "DDR4_3200"]

_HBM2_INI = "umd-memsys/DRAMsim3 configs/HBM2_8Gb_x128.ini @0eb6360"
_DDR4_INI = "umd-memsys/DRAMsim3 configs/DDR4_8Gb_x8_3200.ini @0eb6360"
_JEDEC_REF = ("JEDEC JESD79-4 (DDR4) 4.24: at most 8 REF commands may be postponed, so two REFs "
              "are never more than 9 x tREFI apart")


@dataclass(frozen=True)
class DramPreset:
    """Organisation and timing of one DRAM channel. ``sources`` names where each number is from."""

    name: str
    bank_groups: int
    banks_per_group: int
    rows: int            # rows per bank (tests scale this down: capacity is a parameter)
    atoms_per_row: int   # column commands per row (page size / atom size)
    atom_bytes: int      # bytes per column command
    burst_cycles: int    # tBL: data-bus cycles per column command (BL / 2)
    tck_ns: float
    CL: int
    CWL: int
    tRCD: int
    tRP: int
    tRAS: int
    tRC: int
    tCCD_S: int
    tCCD_L: int
    tRRD_S: int
    tRRD_L: int
    tFAW: int
    tWR: int
    tWTR_S: int
    tWTR_L: int
    tRTP: int
    tRTRS: int
    tRFC: int
    tREFI: int
    max_postponed_refs: int
    sources: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self):
        for name in ("bank_groups", "banks_per_group", "atoms_per_row", "atom_bytes"):
            value = getattr(self, name)
            if value < 1 or value & (value - 1):
                raise ValueError(f"{self.name}: {name} must be a power of two, not {value}")
        if self.rows < 1:
            raise ValueError(f"{self.name}: rows must be positive, not {self.rows}")

    @property
    def banks(self) -> int:
        return self.bank_groups * self.banks_per_group

    @property
    def channel_bytes(self) -> int:
        return self.banks * self.rows * self.atoms_per_row * self.atom_bytes

    @property
    def peak_bytes_per_cycle(self) -> float:
        """Data-bus peak of one channel: one atom every max(tBL, tCCD_S) cycles."""
        return self.atom_bytes / max(self.burst_cycles, self.tCCD_S)

    @property
    def peak_gbytes_per_s(self) -> float:
        return self.peak_bytes_per_cycle / self.tck_ns

    def with_rows(self, rows: int) -> "DramPreset":
        """The same device with fewer (or more) rows per bank: a capacity knob for tests."""
        return dataclasses.replace(self, rows=rows)

    def source_of(self, name: str) -> str:
        return self.sources.get(name, "derived")


def _sources(ini: str, names, derived: dict) -> dict:
    table = {name: f"{ini} [{name}]" for name in names}
    table.update(derived)
    return table


HBM2 = DramPreset(
    name="hbm2", bank_groups=4, banks_per_group=4, rows=32768, atoms_per_row=16, atom_bytes=64,
    burst_cycles=2, tck_ns=1.0,
    CL=14, CWL=4, tRCD=14, tRP=14, tRAS=34, tRC=48, tCCD_S=1, tCCD_L=2, tRRD_S=4, tRRD_L=6,
    tFAW=30, tWR=16, tWTR_S=6, tWTR_L=8, tRTP=6, tRTRS=1, tRFC=260, tREFI=3900,
    max_postponed_refs=8,
    sources=_sources(_HBM2_INI, [
        "bank_groups", "banks_per_group", "rows", "CL", "CWL", "tRP", "tRAS", "tCCD_S",
        "tCCD_L", "tRRD_S", "tRRD_L", "tFAW", "tWR", "tWTR_S", "tWTR_L", "tRFC", "tREFI"], {
        "tck_ns": f"{_HBM2_INI} [tCK]",
        "tRCD": f"{_HBM2_INI} [tRCDRD = tRCDWR = 14]",
        "tRC": "derived: tRAS + tRP (DRAMsim3 computes tRC this way; the ini has no tRC)",
        "tRTP": f"{_HBM2_INI} [tRTP_L] (the larger of tRTP_L/tRTP_S, applied per bank)",
        "atom_bytes": f"{_HBM2_INI} [device_width = 128] x [BL = 4] / 8",
        "burst_cycles": f"{_HBM2_INI} [BL = 4] / 2 (DDR data bus)",
        "atoms_per_row": f"{_HBM2_INI} [columns = 64] x 128 bit = 1 KiB page / 64 B",
        "tRTRS": "not in the HBM2 ini: one bubble for rank/direction switch, as DDR4's tRTRS",
        "max_postponed_refs": _JEDEC_REF + " (the same limit is assumed for HBM2)",
    }),
)

DDR4_3200 = DramPreset(
    name="ddr4_3200", bank_groups=4, banks_per_group=4, rows=65536, atoms_per_row=128,
    atom_bytes=64, burst_cycles=4, tck_ns=0.625,
    CL=22, CWL=16, tRCD=22, tRP=22, tRAS=52, tRC=74, tCCD_S=4, tCCD_L=8, tRRD_S=4, tRRD_L=8,
    tFAW=34, tWR=24, tWTR_S=4, tWTR_L=12, tRTP=12, tRTRS=1, tRFC=560, tREFI=12480,
    max_postponed_refs=8,
    sources=_sources(_DDR4_INI, [
        "bank_groups", "banks_per_group", "rows", "CL", "CWL", "tRCD", "tRP", "tRAS", "tCCD_S",
        "tCCD_L", "tRRD_S", "tRRD_L", "tFAW", "tWR", "tWTR_S", "tWTR_L", "tRTP", "tRTRS",
        "tRFC", "tREFI"], {
        "tck_ns": f"{_DDR4_INI} [tCK = 0.63] (exactly 0.625 ns at 3200 MT/s)",
        "tRC": "derived: tRAS + tRP (DRAMsim3 computes tRC this way; the ini has no tRC)",
        "atom_bytes": f"{_DDR4_INI} [bus_width = 64] x [BL = 8] / 8",
        "burst_cycles": f"{_DDR4_INI} [BL = 8] / 2 (DDR data bus)",
        "atoms_per_row": f"{_DDR4_INI} [columns = 1024] x 64 bit = 8 KiB page / 64 B",
        "max_postponed_refs": _JEDEC_REF,
    }),
)

PRESETS = {p.name: p for p in (HBM2, DDR4_3200)}


def preset(name: str) -> DramPreset:
    """Look a preset up by name ("hbm2", "ddr4_3200")."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown DRAM preset {name!r}; known: {sorted(PRESETS)}") from None
