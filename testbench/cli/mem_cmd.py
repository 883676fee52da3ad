"""``rdu mem``: a traffic pattern on the HBM or DDR tier, or a DDR -> HBM copy.

Runs on the memory system the tests use (2 HBM2 channels, 1 DDR4-3200
channel clocked on 4 of 9 fabric cycles: HBM 9x the peak bandwidth of DDR, DDR
24x the HBM capacity); prints bandwidth per fabric cycle as a share of the tier's
peak, the read latency distribution and the row-hit rate, with the DRAM timing
checker watching every command.
"""

from .mem_traffic import PATTERNS, TEST_SYSTEM, memory_system_design, run_copy, run_traffic
from .output import CommandError, emit, progress

TIERS = ("hbm", "ddr", "copy")


def register(sub):
    p = sub.add_parser("mem", help="run DRAM traffic on a tier, or a DDR -> HBM copy",
                       description=__doc__)
    p.add_argument("tier", choices=TIERS, help="hbm, ddr, or copy (DDR -> HBM)")
    p.add_argument("--pattern", choices=PATTERNS, default="seq_read",
                   help="traffic pattern on a tier (default seq_read)")
    p.add_argument("--size", type=int, default=1 << 20, help="bytes to move (default 1 MiB)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--stall", type=float, default=0.0,
                   help="probability of a stall on each AXI channel (tiers only)")
    p.set_defaults(run=run)
    return p


def _summary(name, result):
    lines = [f"{name}:"]
    for key in sorted(result):
        value = result[key]
        if isinstance(value, float):
            value = f"{value:.4g}"
        if not isinstance(value, dict | list):
            lines.append(f"  {key:28} {value}")
    latency = result.get("latency_cycles")
    if isinstance(latency, dict):
        lines.append("  read latency (cycles)       "
                     + ", ".join(f"{k} {v:.0f}" for k, v in latency.items()))
    return "\n".join(lines)


def run(args):
    if args.size <= 0 or args.size % 64:
        raise CommandError(f"--size must be a positive multiple of 64 bytes, not {args.size}")
    if not 0.0 <= args.stall < 1.0:
        raise CommandError("--stall must be in [0, 1)")
    if args.tier == "copy":
        progress(args, f"copy {args.size} bytes DDR -> HBM")
        result = run_copy(size=args.size, seed=args.seed, **TEST_SYSTEM)
        emit(args, result, _summary(f"copy DDR -> HBM, {args.size} bytes", result))
        return 0
    from memory_ctrl.tier_params import tier_configs

    cfg = tier_configs(**TEST_SYSTEM)[args.tier]
    if args.size > cfg.capacity:
        raise CommandError(f"--size {args.size} exceeds the {args.tier} tier's capacity "
                           f"of {cfg.capacity} bytes")
    progress(args, f"{args.pattern} on {args.tier}, {args.size} bytes")
    result = run_traffic(
        memory_system_design(**TEST_SYSTEM), pattern=args.pattern, size=args.size,
        seed=args.seed, axi=f"s_axi_{args.tier}", obs=f"{args.tier}_",
        peak_bytes_per_cycle=cfg.peak_bytes_per_cycle, capacity=cfg.capacity,
        beat_bytes=cfg.data_bytes, tck_ns=cfg.cycle_ns, stall=args.stall,
        run_name=f"rdu_mem_{args.tier}_{args.pattern}")
    emit(args, result, _summary(f"{args.tier} {args.pattern}, {args.size} bytes", result))
    return 0
