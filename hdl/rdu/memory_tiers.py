"""The RDU's device memory as HBM and DDR tiers (memory="tiers"): the memory system of
memory_ctrl/ behind an AXI4 interconnect for the host and the AGCU, and each tier's
backdoor (:class:`BackdoorSignature`) for testbenches."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.bus import AXI4Signature, connect_flat
from hdl.host.host_port import copy_request_layout
from hdl.memory.tier_bridge import Region, TierBridge
from memory_ctrl.memory_system import MemorySystem
from memory_ctrl.tier_params import ADDR_WIDTH as TIER_ADDR_WIDTH

from .config import DDR_BASE, RDUParams
from .tier_params import TIER_NAMES, memory_tier_params

__all__ = ["MemoryTiers", "BackdoorSignature"]

class BackdoorSignature(wiring.Signature):
    """One tier's backdoor, seen from the testbench that drives it (simulation only).

    A device word is one atom of every bank of every channel at device index
    ``row * atoms_per_row + column`` (:mod:`testbench.golden.dram` maps bytes to it):
    with ``pl_en`` high, ``pl_data`` is written at ``pl_index`` in that cycle, whatever
    the controllers do; ``dbg_rdata`` is the word at ``dbg_index`` one cycle later.
    ``tier`` is the tier's :class:`~memory_ctrl.tier.TierParams`.
    """

    def __init__(self, tier):
        p = tier.dram
        index_bits = max(1, (p.rows * p.atoms_per_row - 1).bit_length())
        word_bits = tier.channels * p.banks * p.atom_bytes * 8
        super().__init__({"pl_en": Out(1), "pl_index": Out(index_bits),
                          "pl_data": Out(word_bits), "dbg_index": Out(index_bits),
                          "dbg_rdata": In(word_bits)})


class MemoryTiers(wiring.Component):
    """Device memory of a memory="tiers" :class:`RDUParams`.

    ``host`` and ``agcu`` are AXI4 slaves (32-bit device addresses, ``vector_bits``
    data, 4-bit IDs) reaching HBM at ``[0, memory_bytes)`` and DDR at
    ``[DDR_BASE, DDR_BASE + ddr_bytes)`` through :class:`TierBridge` (anything else
    answers DECERR). ``copy`` takes a request in device addresses: one address in
    each tier (the destination's tier gives the direction), both ranges inside their
    tier; any other request is taken at once and counted in ``copy_errors``, as are
    the copy engine's own errors (addresses or length not multiples of
    ``copy_burst_bytes``, error responses). A valid request waits until the bridge
    is idle (no new burst starts meanwhile), so the engine never takes a tier from
    under a host or AGCU transaction; while it copies, their bursts wait.
    ``copy_busy``, ``copy_copies`` (completed copies), ``copy_cycles`` (cycles of the
    last copy) report the engine; ``timing_error`` is sticky: a DRAM timing checker of
    either tier saw a violation.
    """

    def __init__(self, config: RDUParams):
        if config.memory != "tiers":
            raise ValueError(f"MemoryTiers needs memory='tiers', not {config.memory!r}")
        self._config = config
        self.axi_signature = AXI4Signature(addr_width=32, data_width=config.vector_bits,
                                           id_width=4)
        tiers = memory_tier_params(config)
        super().__init__({
            **{f"{name}_backdoor": In(BackdoorSignature(tiers[name])) for name in TIER_NAMES},
            "host": In(self.axi_signature),
            "agcu": In(self.axi_signature),
            "copy": In(stream.Signature(copy_request_layout())),
            "copy_busy": Out(1),
            "copy_copies": Out(32),
            "copy_errors": Out(32),
            "copy_cycles": Out(32),
            "timing_error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        tiers = memory_tier_params(cfg)
        m.submodules.system = system = MemorySystem(
            tiers["hbm"], tiers["ddr"], burst_bytes=cfg.copy_burst_bytes,
            buffer_bytes=cfg.copy_buffer_bytes)
        regions = [Region("hbm", 0, cfg.memory_bytes, tiers["hbm"].data_bytes),
                   Region("ddr", DDR_BASE, cfg.ddr_bytes, tiers["ddr"].data_bytes)]
        m.submodules.bridge = bridge = TierBridge(
            regions, cfg.vector_bits, ports=2, addr_width=32, id_width=4,
            slave_addr_width=TIER_ADDR_WIDTH)
        wiring.connect(m, wiring.flipped(self.host), bridge.s0)
        wiring.connect(m, wiring.flipped(self.agcu), bridge.s1)
        for region in regions:
            connect_flat(m, system, f"s_axi_{region.name}", getattr(bridge, region.name),
                         slave=False)
        for name in TIER_NAMES:
            backdoor = getattr(self, f"{name}_backdoor")
            for port, member in backdoor.signature.members.items():
                outer, inner = getattr(backdoor, port), getattr(system, f"{name}_{port}")
                assert len(outer) == len(inner), f"{name}_{port}: {len(outer)} != {len(inner)}"
                m.d.comb += inner.eq(outer) if member.flow == In else outer.eq(inner)

        # ---- copy requests: device addresses -> tier addresses and a direction ----
        request = self.copy.payload
        src_ddr, dst_ddr = request.src >= DDR_BASE, request.dst >= DDR_BASE

        def local(address, in_ddr):
            return address - Mux(in_ddr, DDR_BASE, 0)

        def inside(address, in_ddr):
            return (local(address, in_ddr) + request.length
                    <= Mux(in_ddr, cfg.ddr_bytes, cfg.memory_bytes))

        acceptable = ((src_ddr != dst_ddr) & inside(request.src, src_ddr)
                      & inside(request.dst, dst_ddr))
        m.d.comb += [
            system.copy.payload.src.eq(local(request.src, src_ddr)),
            system.copy.payload.dst.eq(local(request.dst, dst_ddr)),
            system.copy.payload.length.eq(request.length),
            system.copy.payload.to_ddr.eq(dst_ddr),
            system.copy.valid.eq(self.copy.valid & acceptable & bridge.idle),
            self.copy.ready.eq(Mux(acceptable, system.copy.ready & bridge.idle, 1)),
            bridge.hold.eq(self.copy.valid),
        ]
        refused = Signal(32)
        last_to_ddr = Signal()
        with m.If(self.copy.valid & ~acceptable):
            m.d.sync += refused.eq(refused + 1)
        with m.If(system.copy.valid & system.copy.ready):
            m.d.sync += last_to_ddr.eq(dst_ddr)

        with m.If(system.hbm_chk_violation | system.ddr_chk_violation):
            m.d.sync += self.timing_error.eq(1)
        m.d.comb += [
            self.copy_busy.eq(system.copy_busy),
            self.copy_copies.eq(system.copy_copies),
            self.copy_errors.eq(system.copy_errors + refused),
            self.copy_cycles.eq(Mux(last_to_ddr, system.copy_to_ddr_cycles,
                                    system.copy_to_hbm_cycles)),
        ]
        return m
