"""The RDU top: one tile, its device memory and the host port.

Ports (flat, cocotbext-axi naming):

* ``s_axil_*``: AXI4-Lite slave, the host port's registers (hdl/host/host_port.py):
  commands to the AGCU, status, cycle and performance counters.
* ``s_axi_*``: AXI4 slave, host access to device memory (``vector_bits`` wide).
* ``busy``, ``error``, ``config_error``, ``credit_error``: levels for testbenches;
  ``credit_error`` is the passive credit checker of both meshes and the tile's
  stage-credit checkers (sticky).
* ``copy_busy`` (memory="tiers"): the copy engine is running (COPY_STATUS bit 0), so a
  testbench can sleep until a copy ends instead of polling.
* ``hbm_pl_*``, ``hbm_dbg_*``, ``ddr_pl_*``, ``ddr_dbg_*`` (memory="tiers", simulation
  only): each tier's backdoor (:class:`~hdl.rdu.memory_tiers.BackdoorSignature`, the
  names of the memory-system top's), which writes (``pl_en``, ``pl_index``,
  ``pl_data``) or reads (``dbg_index``, ``dbg_rdata``) one device word per cycle
  without the host port, e.g. to preload expert weights; tied low, it does nothing.
* ``counter_events``: each performance counter's increment this cycle (unit ``i``'s
  busy, input-stall, output-stall at bits ``3i .. 3i+2``), so a testbench can
  count the same cycles the counters do.

Device memory (``config.memory``): ``"sram"`` is on-chip SRAM with two AXI4 ports,
one for the host and one for the AGCU; ``"tiers"`` is HBM at ``[0, memory_bytes)``
and DDR at ``[DDR_BASE, DDR_BASE + ddr_bytes)`` with the DDR <-> HBM copy engine
(hdl/rdu/memory_tiers.py), both reached by the host and the AGCU; the host port
then has the COPY_* registers, and a DRAM timing violation sets STATUS.error.
"""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from hdl.bus import AXI4LiteSignature, AXI4Signature, connect_flat, flat_members
from hdl.host.host_port import HostPort
from hdl.memory.axi_register_slice import AXI4RegisterSlice
from hdl.memory.axi_sram import AXI4SRAM
from hdl.tile.tile import ADDR_WIDTH, MEM_ID_WIDTH, Tile
from hdl.tile.unit_counters import COUNTERS_PER_UNIT
from pcu_pmu.pcu.shared_modules import SharedModules

from .config import RDUParams, rdu_params
from .memory_tiers import BackdoorSignature, MemoryTiers
from .tier_params import TIER_NAMES, memory_tier_params

__all__ = ["RDUTop", "make_rdu"]

HOST_LITE_ADDR_WIDTH = 12


class RDUTop(wiring.Component):
    """Tile + device memory + host port for one :class:`RDUParams`.

    ``tile_factory(config, shared)`` builds the tile (default :class:`Tile`); ``shared``
    is where the PCUs' shared modules are registered (default: one registry per top).
    """

    def __init__(self, config: RDUParams, *, tile_factory=Tile,
                 shared: SharedModules | None = None):
        self._config = config
        self._shared = shared if shared is not None else SharedModules()
        self._tile_factory = tile_factory
        members = {}
        members.update(flat_members("s_axil", AXI4LiteSignature(
            addr_width=HOST_LITE_ADDR_WIDTH)))
        members.update(flat_members("s_axi", self._memory_signature()))
        members.update({"busy": Out(1), "error": Out(1), "config_error": Out(1),
                        "credit_error": Out(1),
                        "counter_events": Out(COUNTERS_PER_UNIT * len(config.units()))})
        if config.memory == "tiers":
            members["copy_busy"] = Out(1)
            tiers = memory_tier_params(config)
            for name in TIER_NAMES:
                members.update(flat_members(name, BackdoorSignature(tiers[name])))
        super().__init__(members)

    @property
    def config(self) -> RDUParams:
        return self._config

    def _memory_signature(self) -> AXI4Signature:
        return AXI4Signature(addr_width=ADDR_WIDTH, data_width=self._config.vector_bits,
                             id_width=MEM_ID_WIDTH)

    def emit_verilog(self, name: str, reset: str = "sync") -> str:
        """Verilog with each shared PCU submodule defined once."""
        return self._shared.emit_verilog(self, name, reset)

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        units = len(cfg.units())
        m.submodules.tile = tile = self._tile_factory(cfg, self._shared)
        tiers = cfg.memory == "tiers"
        host = HostPort(counters=COUNTERS_PER_UNIT * units, addr_width=HOST_LITE_ADDR_WIDTH,
                        copy=tiers)
        m.submodules.host = host
        memory_error = 0
        # A register slice between the AGCU and device memory: the memory's arbiter
        # answers AR/AW ready in the cycle a request arrives, which otherwise feeds the
        # AGCU's address generators in the same cycle (it limited FPGA fmax).
        m.submodules.agcu_slice = agcu_slice = AXI4RegisterSlice(self._memory_signature())
        wiring.connect(m, tile.mem, agcu_slice.s)
        if tiers:
            m.submodules.device_memory = memory = MemoryTiers(cfg)
            connect_flat(m, self, "s_axi", memory.host)
            wiring.connect(m, agcu_slice.m, memory.agcu)
            wiring.connect(m, host.copy, memory.copy)
            m.d.comb += [host.copy_busy.eq(memory.copy_busy),
                         host.copy_copies.eq(memory.copy_copies),
                         host.copy_errors.eq(memory.copy_errors),
                         host.copy_cycles.eq(memory.copy_cycles),
                         host.memory_error.eq(memory.timing_error)]
            memory_error = memory.timing_error
            m.d.comb += self.copy_busy.eq(memory.copy_busy)
            for name in TIER_NAMES:
                connect_flat(m, self, name, getattr(memory, f"{name}_backdoor"))
        else:
            memory = AXI4SRAM(cfg.memory_bytes, cfg.vector_bits, ports=2,
                              addr_width=ADDR_WIDTH, id_width=MEM_ID_WIDTH)
            m.submodules.device_memory = memory
            connect_flat(m, self, "s_axi", memory.s0)
            wiring.connect(m, agcu_slice.m, memory.s1)

        connect_flat(m, self, "s_axil", host.axil)
        wiring.connect(m, host.cmd, tile.cmd)
        m.d.comb += [
            host.busy.eq(tile.busy),
            host.error.eq(tile.error | tile.config_error | tile.credit_error | memory_error),
            host.kernels_done.eq(tile.kernels_done),
            host.commands_done.eq(tile.commands_done),
            host.kernel_cycles.eq(tile.kernel_cycles),
            host.program_cycles.eq(tile.program_cycles),
            host.counters.eq(tile.counters),
            self.busy.eq(tile.busy),
            self.error.eq(tile.error),
            self.config_error.eq(tile.config_error),
            self.credit_error.eq(tile.credit_error),
            self.counter_events.eq(tile.counter_events),
        ]
        return m


def make_rdu(preset: str = "small", **overrides) -> RDUTop:
    """``Design`` factory: ``hdl.rdu.top:make_rdu`` with a preset name and overrides.

    An override of ``None`` keeps the preset's value.
    """
    return RDUTop(rdu_params(preset, **{k: v for k, v in overrides.items() if v is not None}))
