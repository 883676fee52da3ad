"""One configuration object for the whole RDU: tile grid, unit sizes, network, memory.

Every RTL block of the RDU top reads its parameters from :class:`RDUParams`;
``rdu verilog rdu -p preset=small -p rows=2`` emits any configuration. The
tile is a ``rows x cols`` checkerboard of PCUs and PMUs (a PCU where
``row + col`` is even) with the AGCU on its west edge: the network is a
``rows x (cols + 1)`` mesh whose column 0 holds the AGCU at row 0.

Device memory (``memory``): ``"sram"`` is on-chip SRAM of ``memory_bytes`` at
address 0; ``"tiers"`` is the HBM tier at ``[0, memory_bytes)`` and the DDR tier at
``[DDR_BASE, DDR_BASE + ddr_bytes)`` (``memory_ctrl.memory_system.MemorySystem``, see
hdl/rdu/memory_tiers.py), with the DDR <-> HBM copy engine moving
``copy_burst_bytes`` bursts through a buffer of ``copy_buffer_bytes``.
"""

from dataclasses import asdict, dataclass, fields, replace

from memory_ctrl.presets import DDR4_3200, HBM2
from pcu_pmu.pcu.config import PCUParams, TailOp
from pcu_pmu.pmu.params import PMUParams

__all__ = ["RDUParams", "PRESETS", "UnitKind", "rdu_params", "DDR_BASE", "MEMORY_KINDS",
           "HBM_ROW_BYTES", "DDR_ROW_BYTES", "TIER_ATOM_BYTES", "peak_flops_per_cycle",
           "pmu_bytes"]

#: device address of the DDR tier's first byte (memory="tiers")
DDR_BASE = 0x4000_0000
MEMORY_KINDS = ("sram", "tiers")
#: bytes of one row across every bank of one channel (the capacity step of a tier):
#: HBM2 16 banks x 1 KiB pages = 16 KiB, DDR4 16 banks x 8 KiB pages = 128 KiB
HBM_ROW_BYTES = HBM2.with_rows(1).channel_bytes
DDR_ROW_BYTES = DDR4_3200.with_rows(1).channel_bytes
#: widest AXI data beat the tiers' single-beat bridge supports (one DRAM atom)
TIER_ATOM_BYTES = HBM2.atom_bytes


class UnitKind:
    """What sits at a tile position."""

    PCU = "pcu"
    PMU = "pmu"


@dataclass(frozen=True)
class RDUParams:
    """Parameters of one RDU (fixed when the Verilog is emitted)."""

    rows: int = 1
    cols: int = 2
    lanes: int = 4
    stages: int = 3
    systolic: bool = True
    pcu_fifo_depth: int = 4
    pmu_depth: int = 64
    flows: int = 16
    # a register stage on every switch-to-switch link of both meshes (no combinational
    # path between switches; one more cycle per hop and a 4-cycle credit round trip, so a
    # link runs at link_buffer_depth / 4 flits per cycle below a depth of 4)
    link_registers: bool = True
    link_buffer_depth: int = 4
    memory_bytes: int = 1 << 16
    agcu_streams: int = 4
    agcu_outstanding: int = 4
    # TailOp names built into every PCU's tail (default all; PASS is always built).
    tail_ops: tuple = tuple(op.name for op in TailOp)
    # "sram" (on-chip SRAM) or "tiers" (HBM + DDR + copy engine); the rest only for "tiers".
    memory: str = "sram"
    ddr_bytes: int = DDR_ROW_BYTES
    hbm_channels: int = 1
    copy_burst_bytes: int = 256
    # The copy engine's read-ahead buffer (reads run ahead of writes by up to this much).
    # Deep enough to ride through an HBM all-bank refresh: while HBM refreshes (tRFC =
    # 260 cycles, plus the precharges and ACTs around it, about 300 cycles) the DDR tier
    # keeps delivering 14.2 B/cycle, about 4.3 KiB, which must fit, or the DDR reads stall
    # for the rest of the refresh. Four 256-byte bursts (1 KiB) held 72 cycles of it and
    # a copy that met a refresh ran at 78% of the DDR peak; 8 KiB holds it all (95%),
    # unless the refresh falls in the copy's last ~400 cycles (its last writes wait).
    copy_buffer_bytes: int = 8192

    def __post_init__(self):
        # Names, in TailOp order, as a tuple: JSON parameters arrive as lists.
        names = tuple(op.name for op in PCUParams(tail_ops=tuple(self.tail_ops)).tail_ops)
        object.__setattr__(self, "tail_ops", names)
        for name in ("rows", "cols"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 1 <= value <= 8:
                raise ValueError(f"{name} must be an int from 1 to 8, not {value!r}")
        if not isinstance(self.link_registers, bool):
            raise ValueError(f"link_registers must be a bool, not {self.link_registers!r}")
        if self.rows * self.cols < 2:
            raise ValueError("the tile needs at least two units (one PCU and one PMU)")
        if not (2 <= self.flows <= 64 and self.flows & (self.flows - 1) == 0):
            raise ValueError(f"flows must be a power of two from 2 to 64 (6-bit flow ids), "
                             f"not {self.flows}")
        if self.memory_bytes & (self.memory_bytes - 1) or self.memory_bytes < 4096:
            raise ValueError(f"memory_bytes must be a power of two >= 4096, "
                             f"not {self.memory_bytes}")
        self.pcu_params()
        self.pmu_params()
        self._check_memory()

    def _check_memory(self):
        if self.memory not in MEMORY_KINDS:
            raise ValueError(f"memory must be one of {', '.join(MEMORY_KINDS)}, "
                             f"not {self.memory!r}")
        if self.memory != "tiers":
            return
        beat = self.vector_bits // 8
        if beat > TIER_ATOM_BYTES:
            raise ValueError(f"memory='tiers' supports vectors up to {TIER_ATOM_BYTES} bytes "
                             f"(16 lanes), not {beat}")
        channels = self.hbm_channels
        if not (isinstance(channels, int) and 1 <= channels <= 8
                and channels & (channels - 1) == 0):
            raise ValueError(f"hbm_channels must be a power of two from 1 to 8, not {channels}")
        slab = channels * HBM_ROW_BYTES
        if self.memory_bytes % slab:
            raise ValueError(f"memory_bytes (the HBM tier) must be a multiple of {slab} bytes "
                             f"({channels} HBM2 channel(s) x 16 KiB rows), "
                             f"not {self.memory_bytes}")
        if self.memory_bytes > DDR_BASE:
            raise ValueError(f"memory_bytes {self.memory_bytes:#x} overlaps the DDR tier at "
                             f"{DDR_BASE:#x}")
        if self.ddr_bytes < DDR_ROW_BYTES or self.ddr_bytes % DDR_ROW_BYTES:
            raise ValueError(f"ddr_bytes must be a positive multiple of {DDR_ROW_BYTES} "
                             f"(one DDR4 row across 16 banks), not {self.ddr_bytes}")
        if DDR_BASE + self.ddr_bytes > 1 << 32:
            raise ValueError(f"ddr_bytes {self.ddr_bytes:#x} does not fit the 32-bit device "
                             f"address space above {DDR_BASE:#x}")
        burst = self.copy_burst_bytes
        if (burst & (burst - 1) or not TIER_ATOM_BYTES <= burst <= 4096):
            raise ValueError(f"copy_burst_bytes must be a power of two from {TIER_ATOM_BYTES} "
                             f"to 4096, not {burst}")
        buffer = self.copy_buffer_bytes
        if buffer & (buffer - 1) or not burst <= buffer <= 1 << 16:
            raise ValueError(f"copy_buffer_bytes must be a power of two from copy_burst_bytes "
                             f"({burst}) to 65536, not {buffer}")

    # -- derived ------------------------------------------------------------------------
    @property
    def vector_bits(self) -> int:
        """Width of one vector (lanes x 32 bits): flits, AXI data beats, PMU rows."""
        return 32 * self.lanes

    @property
    def mesh_shape(self) -> tuple[int, int]:
        return self.rows, self.cols + 1

    AGCU_NODE = (0, 0)

    def pcu_params(self) -> PCUParams:
        depth = self.pcu_fifo_depth
        return PCUParams(lanes=self.lanes, stages=self.stages, vec_fifo_depth=depth,
                         scalar_fifo_depth=depth, out_fifo_depth=depth, systolic=self.systolic,
                         tail_ops=self.tail_ops)

    def pmu_params(self) -> PMUParams:
        return PMUParams(banks=self.lanes, depth=self.pmu_depth, width=32)

    def units(self) -> list[tuple[str, tuple[int, int]]]:
        """(kind, mesh node) of every unit in unit-index order (row-major over the grid)."""
        return [(UnitKind.PCU if (r + c) % 2 == 0 else UnitKind.PMU, (r, c + 1))
                for r in range(self.rows) for c in range(self.cols)]

    @property
    def hbm_bytes(self) -> int:
        """Size of the HBM tier (memory="tiers"): the device memory at address 0."""
        return self.memory_bytes

    def to_json(self) -> dict:
        return asdict(self)


def peak_flops_per_cycle(config: RDUParams) -> int:
    """Peak bf16 FLOPs per cycle of the tile: every PCU's ``lanes x lanes`` systolic array
    does one multiply-add (2 FLOPs) per PE per cycle (one k per cycle)."""
    if not config.systolic:
        raise ValueError("peak FLOPs count the PCUs' systolic arrays; this RDU has none "
                         "(systolic=False)")
    pcus = sum(kind == UnitKind.PCU for kind, _ in config.units())
    return pcus * config.lanes * config.lanes * 2


def pmu_bytes(config: RDUParams) -> int:
    """On-chip scratchpad bytes of all PMUs: banks x depth words of ``width`` bits each."""
    p = config.pmu_params()
    pmus = sum(kind == UnitKind.PMU for kind, _ in config.units())
    return pmus * p.banks * p.depth * p.width // 8


PRESETS = {
    # What `make test` builds: two units, 4 lanes.
    "small": RDUParams(),
    # A 2 x 2 tile (2 PCUs, 2 PMUs) for integration programs across units.
    "tile2x2": RDUParams(rows=2, cols=2),
    # A 4 x 4 tile (8 PCUs, 8 PMUs): the simulation-speed benchmark's largest tile.
    "tile4x4": RDUParams(rows=4, cols=4),
    # Plasticine's unit sizes (16 lanes x 6 stages, 16 banks) on a 2 x 2 tile, for benchmarks.
    "plasticine": RDUParams(rows=2, cols=2, lanes=16, stages=6, systolic=False, pmu_depth=1024,
                            pcu_fifo_depth=4, memory_bytes=1 << 20),
    # The smallest useful tile for the LFE5U-85F prototype (hdl/fpga/bridged_rdu.py): one
    # PCU, one PMU. The lanes x stages fp32 datapath, the systolic array and the tail's
    # transcendental units (7 per lane) are what cost LUTs and DSPs, so: 2 lanes x 2
    # stages (enough for vector_add and a 2-lane reduction tree), no systolic array, only
    # the cheap tail ops (PASS, BF16), 8 KiB of device memory. Behind the UART bridge it
    # places at about 30k LUT4s, 15k FFs, 52 DSPs, 9 BRAMs, fmax ~47 MHz with the meshes'
    # link registers (`rdu fpga synth rdu_fpga`; critical path then in the PCU or AGCU).
    # Its links keep 2-deep buffers (half rate across a switch-to-switch link) for area.
    "fpga": RDUParams(lanes=2, stages=2, systolic=False, pcu_fifo_depth=2, pmu_depth=64,
                      memory_bytes=1 << 13, tail_ops=("PASS", "BF16"), link_buffer_depth=2),
    # The small tile in front of the memory tiers, for the Composition-of-Experts driver:
    # 64 KiB of HBM2 (one channel, 4 rows per bank) and 256 KiB of DDR4-3200 (2 rows);
    # the copy engine with the defaults: 256-byte bursts (the experts' images are padded
    # to them) and an 8 KiB buffer (a copy rides through an HBM refresh).
    "coe": RDUParams(memory="tiers", memory_bytes=1 << 16, ddr_bytes=2 * DDR_ROW_BYTES),
    # The SN40L's ratios on a 4 x 4 tile (8 PCUs, 8 PMUs) in front of the memory tiers.
    # Every number below is computed by the functions named (tests/test_sn40l_preset.py):
    # * compute: 8 PCUs x an 8 x 8 systolic array x 2 FLOPs (a bf16 multiply-add per PE per
    #   cycle) = 1024 FLOPs per cycle (peak_flops_per_cycle). 8 lanes need 4 stages for a
    #   cross-lane sum (log2(lanes) + 1); 6 stages as Plasticine's PCU.
    # * HBM: 4 HBM2 channels x 32 B per cycle (a 64 B atom every tBL = 2 cycles) = 128 B per
    #   cycle (hbm_peak_bytes_per_cycle): 1024 / 128 = 8 FLOPs per HBM byte
    #   (flops_per_hbm_byte). A batch-B GEMV on bf16 weights does 2B FLOPs per 2-byte weight,
    #   B FLOPs per byte, so it turns compute-bound at B = 8: batch-1 decode (1 FLOP per
    #   byte) is memory-bound, a prefill of 64 tokens (64 FLOPs per byte) compute-bound.
    #   The SN40L: 638 BF16 TFLOPS over about 1.8 TB/s, about 350 FLOPs per byte (crossover
    #   at a batch of about 350).
    # * DDR: one DDR4-3200 channel, 16 B per DRAM cycle on 8 of 9 fabric cycles = 14.2 B
    #   per cycle: HBM / DDR = 9.0x (bandwidth_ratio; the SN40L about 1.8 TB/s over about
    #   200 GB/s). The `coe` preset's single HBM channel gives 2.25x.
    # * capacity: HBM 2 MiB (4 channels x 16 banks x 32 rows x 1 KiB), DDR 48 MiB (384 rows
    #   of 128 KiB): 24x (capacity_ratio; the SN40L 1.5 TiB over 64 GiB). On chip: 8 PMUs x
    #   8 banks x 64 words x 4 B = 16 KiB (pmu_bytes), 1/128 of HBM (the SN40L: 520 MiB,
    #   1/126).
    # * experts: a decoder-layer expert of d_model 64, 4 heads of 16, d_ff 128 (64 cached
    #   tokens) has a 197,120-byte weight image (testbench.coe.machine.expert_image_bytes),
    #   12x the PMUs' 16 KiB. HBM's tensor region (the lower 3/4, 1.5 MiB) holds the
    #   router and scratch buffers (149,504 B for 16 experts and requests of up to 8 tokens)
    #   and 7 expert slots; DDR holds 255 such experts.
    # The ratios are the tiers' own: the AGCU's port to device memory is one 32-byte
    # vector wide, so a kernel reads at most 32 B per cycle from either tier (32 FLOPs per
    # byte it reads). Emitting the Verilog takes about 3 CPU minutes (25 MB).
    "sn40l": RDUParams(rows=4, cols=4, lanes=8, stages=6, memory="tiers",
                       memory_bytes=4 * 32 * HBM_ROW_BYTES, hbm_channels=4,
                       ddr_bytes=384 * DDR_ROW_BYTES),
}


def rdu_params(preset: str = "small", **overrides) -> RDUParams:
    """A preset with some fields replaced; unknown names are a clear error."""
    if preset not in PRESETS:
        raise ValueError(f"unknown RDU preset {preset!r}; presets: {', '.join(PRESETS)}")
    names = {f.name for f in fields(RDUParams)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(f"unknown RDU parameter(s) {', '.join(unknown)}; "
                         f"parameters: {', '.join(sorted(names))}")
    return replace(PRESETS[preset], **overrides)
