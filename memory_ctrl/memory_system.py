"""The memory system: an HBM tier, a DDR tier and the copy engines between them."""

from amaranth.hdl import Module, Mux
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.bus import connect_flat, flat_members

from .copy_engine import CopyEngine
from .tier import ID_WIDTH, Tier
from .tier_params import ADDR_WIDTH, TierParams, tier_configs

__all__ = ["MemorySystem", "make_memory_system", "copy_descriptor_layout"]

TIER_NAMES = ("hbm", "ddr")


def copy_descriptor_layout() -> data.StructLayout:
    return data.StructLayout({"src": ADDR_WIDTH, "dst": ADDR_WIDTH, "length": ADDR_WIDTH,
                              "to_ddr": 1})


class MemorySystem(wiring.Component):
    """Ports (flat, cocotbext-axi names): ``s_axi_hbm_*``, ``s_axi_ddr_*``; per tier
    ``<tier>_chk_*`` etc. (see :func:`memory_ctrl.tier.checker_ports`) and the backdoor
    ``<tier>_pl_*`` / ``<tier>_dbg_*``; ``copy`` (descriptor stream: src, dst, length,
    to_ddr) with ``copy_busy``, ``copy_copies``, ``copy_errors`` and the length in cycles of
    the last copy each way, ``copy_to_hbm_cycles`` / ``copy_to_ddr_cycles``.

    While a copy runs the engine owns both tiers and the host ports stall (ready low);
    the host must have no transaction outstanding when it sends a descriptor.
    """

    def __init__(self, hbm: TierParams, ddr: TierParams, *, burst_bytes: int = 4096,
                 buffer_bytes: int = 16384):
        self._tiers = {"hbm": Tier(hbm), "ddr": Tier(ddr)}
        self._engines = {
            "to_hbm": CopyEngine(addr_width=ADDR_WIDTH, rd_bytes=ddr.data_bytes,
                                 wr_bytes=hbm.data_bytes, id_width=ID_WIDTH,
                                 burst_bytes=burst_bytes, buffer_bytes=buffer_bytes),
            "to_ddr": CopyEngine(addr_width=ADDR_WIDTH, rd_bytes=hbm.data_bytes,
                                 wr_bytes=ddr.data_bytes, id_width=ID_WIDTH,
                                 burst_bytes=burst_bytes, buffer_bytes=buffer_bytes),
        }
        members = {}
        for name, tier in self._tiers.items():
            members.update(flat_members(f"s_axi_{name}", tier.axi_signature))
            for port, member in tier.signature.members.items():
                if port != "axi":
                    members[f"{name}_{port}"] = member
        members["copy"] = In(stream.Signature(copy_descriptor_layout()))
        members.update({"copy_busy": Out(1), "copy_copies": Out(32), "copy_errors": Out(32),
                        "copy_to_hbm_cycles": Out(40), "copy_to_ddr_cycles": Out(40)})
        super().__init__(members)

    def tier(self, name: str) -> Tier:
        return self._tiers[name]

    def elaborate(self, platform):
        m = Module()
        for name, tier in self._tiers.items():
            m.submodules[name] = tier
        for name, engine in self._engines.items():
            m.submodules[name] = engine
        to_hbm, to_ddr = self._engines["to_hbm"], self._engines["to_ddr"]

        # descriptors go to the engine of their direction
        d = self.copy.payload
        for engine, wanted in ((to_hbm, 0), (to_ddr, 1)):
            m.d.comb += [engine.desc.payload.src.eq(d.src), engine.desc.payload.dst.eq(d.dst),
                         engine.desc.payload.length.eq(d.length),
                         engine.desc.valid.eq(self.copy.valid & (d.to_ddr == wanted)
                                              & ~to_hbm.busy & ~to_ddr.busy)]
        m.d.comb += self.copy.ready.eq(Mux(d.to_ddr, to_ddr.desc.ready, to_hbm.desc.ready)
                                       & ~to_hbm.busy & ~to_ddr.busy)
        m.d.comb += [self.copy_busy.eq(to_hbm.busy | to_ddr.busy),
                     self.copy_copies.eq(to_hbm.copies + to_ddr.copies),
                     self.copy_errors.eq(to_hbm.errors + to_ddr.errors),
                     self.copy_to_hbm_cycles.eq(to_hbm.last_cycles),
                     self.copy_to_ddr_cycles.eq(to_ddr.last_cycles)]

        for name, tier in self._tiers.items():
            host = tier.axi_signature.create(path=(f"host_{name}",))
            connect_flat(m, self, f"s_axi_{name}", host)
            reader = to_hbm.rd if name == "ddr" else to_ddr.rd
            writer = to_hbm.wr if name == "hbm" else to_ddr.wr
            # owner: the engine that reads or writes this tier while it runs, else the host
            masters = [(host, ~to_hbm.busy & ~to_ddr.busy),
                       (reader, (to_hbm.busy if name == "ddr" else to_ddr.busy)),
                       (writer, (to_hbm.busy if name == "hbm" else to_ddr.busy))]
            self._mux(m, tier.axi_signature, tier.axi, masters)
            for port, member in tier.signature.members.items():
                if port == "axi":
                    continue
                outer = getattr(self, f"{name}_{port}")
                if member.flow == In:
                    m.d.comb += getattr(tier, port).eq(outer)
                else:
                    m.d.comb += outer.eq(getattr(tier, port))
        return m

    @staticmethod
    def _mux(m, signature, slave, masters):
        """Connect ``slave`` (of bus ``signature``) to whichever master's select is high
        (at most one is)."""
        for field, member in signature.members.items():
            target = getattr(slave, field)
            if member.flow == Out:  # driven by the master
                value = 0
                for master, select in masters:
                    value = Mux(select, getattr(master, field), value)
                m.d.comb += target.eq(value)
            else:
                for master, select in masters:
                    m.d.comb += getattr(master, field).eq(Mux(select, target, 0))


# HBM2: tCCD_L = tBL, so a stream may stay in one bank group: a whole 1 KiB row per
# channel before the next bank, which spreads the ACTs out. Its rows are short (16
# atoms), so a stream revisits each bank every 16 rows: the closed-page policy has the
# bank precharged by then (open page measured 67 % of peak on sequential reads, the
# PRE + ACT of each revisit not hidden by an 8-entry queue). DDR4: tCCD_L = 2 x tBL, so
# consecutive atoms alternate bank groups (the address map's default order); open page.
# Ratios (docs/architecture.md section 3): HBM 4 x 32 B = 128 B per fabric cycle; the DDR
# clock ticks on 8 of 9 fabric cycles, so DDR peaks at 16 x 8/9 = 14.2 B per fabric cycle:
# 9.0x.
# Capacity: 4 x 16 banks x 8 rows x 1 KiB = 512 KiB HBM, 16 x 96 x 8 KiB = 12 MiB DDR: 24x.
def make_memory_system(hbm: dict | None = None, ddr: dict | None = None,
                       **options) -> MemorySystem:
    """``Design`` factory: ``memory_ctrl.memory_system:make_memory_system(hbm={...}, ddr={...})``.

    Defaults keep the tier ratios: HBM2 x4 channels (128 B/cycle) and DDR4-3200 x1
    channel clocked on 8 of 9 cycles (14.2 B/cycle): bandwidth 9x; capacity DDR = 24 x
    HBM (512 KiB and 12 MiB).
    """
    configs = tier_configs(hbm, ddr)
    return MemorySystem(configs["hbm"], configs["ddr"], **options)
