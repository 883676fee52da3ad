"""What fixes a memory tier's RTL (:class:`TierParams`) and the two tiers of a memory
system (:func:`tier_configs`), apart from the RTL itself: the host side (backdoor
preloads, golden DRAM model, benchmarks) reads them without importing Amaranth."""

from dataclasses import dataclass

from .address_map import DEFAULT_ORDER, AddressMap
from .presets import DramPreset, preset

__all__ = ["ADDR_WIDTH", "TierParams", "DEFAULT_HBM", "DEFAULT_DDR", "tier_configs",
           "bandwidth_ratio", "capacity_ratio"]

#: width of a tier's AXI addresses
ADDR_WIDTH = 34


@dataclass(frozen=True)
class TierParams:
    """Everything that fixes one tier's RTL. ``rows`` scales capacity (None: the preset's).

    ``clock_enable = (k, n)``: the DRAM clock (controllers, devices, checkers) ticks on
    k of every n fabric cycles, so all DRAM timing is in DRAM cycles while the AXI
    front end runs at the fabric clock. Figures per cycle below are per fabric cycle.
    """

    preset: str = "hbm2"
    channels: int = 4
    rows: int | None = None
    data_bytes: int = 128          # AXI data width in bytes
    order: tuple = DEFAULT_ORDER
    queue_depth: int = 8
    response_depth: int = 16
    rob_beats: int = 64
    starvation_bound: int = 16
    closed_page: bool = False
    clock_enable: tuple = (1, 1)

    @property
    def dram_cycles_per_cycle(self) -> float:
        """DRAM clock / fabric clock."""
        numerator, denominator = self.clock_enable
        return numerator / denominator

    @property
    def cycle_ns(self) -> float:
        """Fabric-cycle time implied by running the DRAM at its preset's tCK."""
        return self.dram.tck_ns * self.dram_cycles_per_cycle

    @property
    def dram(self) -> DramPreset:
        base = preset(self.preset)
        return base if self.rows is None else base.with_rows(self.rows)

    @property
    def address_map(self) -> AddressMap:
        return AddressMap(self.dram, self.channels, self.order)

    @property
    def capacity(self) -> int:
        return self.address_map.capacity

    @property
    def lanes(self) -> int:
        return self.data_bytes // self.dram.atom_bytes

    @property
    def peak_bytes_per_cycle(self) -> float:
        """Data-bus peak of all channels per fabric cycle."""
        return self.dram.peak_bytes_per_cycle * self.channels * self.dram_cycles_per_cycle

    def check(self) -> None:
        p = self.dram
        if self.data_bytes < p.atom_bytes or self.data_bytes % p.atom_bytes:
            raise ValueError(f"AXI width {self.data_bytes} B must be a multiple of the "
                             f"{p.atom_bytes} B atom of {p.name}")
        lanes = self.lanes
        if lanes & (lanes - 1) or lanes > self.channels:
            raise ValueError(f"{lanes} atoms per AXI beat need a power of two <= channels "
                             f"({self.channels})")
        if lanes > 1 and self.order[0] != "channel":
            raise ValueError("with several atoms per AXI beat the channel must be the lowest "
                             f"address field (each atom of a beat goes to its own channel), "
                             f"not {self.order}")
        if self.address_map.address_bits >= ADDR_WIDTH:
            raise ValueError(f"capacity {self.capacity} B does not fit {ADDR_WIDTH}-bit addresses")
        numerator, denominator = self.clock_enable
        if not 1 <= numerator <= denominator:
            raise ValueError(f"clock_enable {numerator}/{denominator}: need 1 <= k <= n")
        if self.rob_beats < 2 or self.rob_beats & (self.rob_beats - 1):
            raise ValueError(f"rob_beats must be a power of two >= 2, not {self.rob_beats}")


DEFAULT_HBM = {"preset": "hbm2", "channels": 4, "rows": 8, "data_bytes": 128,
               "order": ("channel", "column", "group", "bank", "row"), "closed_page": True}
DEFAULT_DDR = {"preset": "ddr4_3200", "channels": 1, "rows": 96, "data_bytes": 64,
               "clock_enable": (8, 9)}


def tier_configs(hbm: dict | None = None, ddr: dict | None = None) -> dict:
    """The two :class:`TierParams` of a memory system built with these overrides."""
    configs = {}
    for name, base, extra in (("hbm", DEFAULT_HBM, hbm), ("ddr", DEFAULT_DDR, ddr)):
        cfg = {**base, **(extra or {})}
        for key in ("order", "clock_enable"):  # JSON parameters arrive as lists
            if key in cfg:
                cfg[key] = tuple(cfg[key])
        configs[name] = TierParams(**cfg)
    return configs


def bandwidth_ratio(configs: dict) -> float:
    """HBM peak / DDR peak (bytes per fabric cycle) of :func:`tier_configs`' result."""
    return configs["hbm"].peak_bytes_per_cycle / configs["ddr"].peak_bytes_per_cycle


def capacity_ratio(configs: dict) -> float:
    """DDR capacity / HBM capacity of :func:`tier_configs`' result."""
    return configs["ddr"].capacity / configs["hbm"].capacity
