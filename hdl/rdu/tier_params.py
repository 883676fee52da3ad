"""The HBM and DDR tiers' parameters of an RDU with memory="tiers", and the ratios they
set: what the host side (backdoor preloads, the CoE driver, benchmarks) needs of the
tiers without importing their RTL (hdl/rdu/memory_tiers.py)."""

from memory_ctrl.tier_params import tier_configs

from .config import DDR_ROW_BYTES, HBM_ROW_BYTES, TIER_ATOM_BYTES, RDUParams, peak_flops_per_cycle

__all__ = ["TIER_NAMES", "memory_tier_params", "hbm_peak_bytes_per_cycle",
           "ddr_peak_bytes_per_cycle", "flops_per_hbm_byte"]

#: the tiers of a memory="tiers" RDU, in device-address order
TIER_NAMES = ("hbm", "ddr")


def memory_tier_params(config: RDUParams) -> dict:
    """The HBM and DDR :class:`memory_ctrl.tier_params.TierParams` of ``config`` (memory="tiers").

    HBM2 with ``hbm_channels`` channels and DDR4-3200 (one channel, clocked on 8 of 9
    cycles), both with 64-byte AXI beats, sized to ``memory_bytes`` and ``ddr_bytes``.
    """
    hbm_rows = config.memory_bytes // (config.hbm_channels * HBM_ROW_BYTES)
    return tier_configs(
        hbm={"channels": config.hbm_channels, "rows": hbm_rows, "data_bytes": TIER_ATOM_BYTES},
        ddr={"rows": config.ddr_bytes // DDR_ROW_BYTES, "data_bytes": TIER_ATOM_BYTES})


def hbm_peak_bytes_per_cycle(config: RDUParams) -> float:
    """Peak bytes per fabric cycle of the HBM tier of ``config`` (its channels' data buses)."""
    return memory_tier_params(config)["hbm"].peak_bytes_per_cycle


def ddr_peak_bytes_per_cycle(config: RDUParams) -> float:
    """Peak bytes per fabric cycle of the DDR tier of ``config`` (what a DDR -> HBM copy
    and the scaled host link are measured against)."""
    return memory_tier_params(config)["ddr"].peak_bytes_per_cycle


def flops_per_hbm_byte(config: RDUParams) -> float:
    """Peak FLOPs per HBM byte: the batch at which a bf16 GEMV (B FLOPs per weight byte
    at batch B) turns from memory-bound to compute-bound."""
    return peak_flops_per_cycle(config) / hbm_peak_bytes_per_cycle(config)
