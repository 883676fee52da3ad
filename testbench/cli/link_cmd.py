"""``rdu link``: traffic over an RDU-to-RDU link through a lossy channel model.

Endpoint A (socket 0) sends RTL-generated packets to endpoint B (socket 1) on
every VC (``--both``: B sends to A too); errors are injected per flit at
``--error-rate`` (``--drop-share`` of them dropped flits, the rest single-bit
flips). Prints goodput against its bound, mean packet latency, injected and
detected errors, retries and the protocol checker's verdict. Exit status 0 when
every packet arrived exactly once, in order and intact, every damaged frame was
detected and the protocol checker stayed silent; 1 otherwise.
"""

import math

from hdl.link.protocol_checker import RULES

from .link_sim import DEFAULT_PARAMS, LinkRun, round_trip_cycles, run_link
from .output import CommandError, emit, progress


def register(sub):
    p = sub.add_parser("link", help="send traffic over the RDU-to-RDU link model",
                       description=__doc__)
    p.add_argument("--flits", type=int, default=20_000,
                   help="about this many data flits per direction (header, payload, CRC; "
                        "before retries and control frames; default 20000)")
    p.add_argument("--error-rate", type=float, default=0.0,
                   help="injected errors per flit (default 0)")
    p.add_argument("--drop-share", type=float, default=0.5,
                   help="share of the errors that drop the flit (default 0.5)")
    p.add_argument("--credits", type=int, default=32, help="credits per VC in words")
    p.add_argument("--latency", type=int, default=8, help="channel latency in cycles")
    p.add_argument("--length", type=int, default=0,
                   help="payload words per packet (default 0: random 1..8)")
    p.add_argument("--vcs", type=int, default=DEFAULT_PARAMS.vcs, help="VCs carrying traffic")
    p.add_argument("--both", action="store_true", help="traffic in both directions")
    p.add_argument("--stall", type=float, default=0.0,
                   help="stall probability of the user streams on both sides")
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(run=run)
    return p


def _description(args) -> LinkRun:
    if args.flits <= 0:
        raise CommandError(f"--flits must be positive, not {args.flits}")
    if not 0.0 <= args.error_rate < 0.5:
        raise CommandError(f"--error-rate must be in [0, 0.5), not {args.error_rate}")
    if not 0.0 <= args.drop_share <= 1.0:
        raise CommandError("--drop-share must be in [0, 1]")
    if not 1 <= args.vcs <= DEFAULT_PARAMS.vcs:
        raise CommandError(f"--vcs must be 1..{DEFAULT_PARAMS.vcs}")
    if args.seed <= 0:
        raise CommandError("--seed must be positive")
    mean_payload = args.length or 4.5
    packets = math.ceil(args.flits / ((mean_payload + 2) * args.vcs))
    if packets >= 1 << 16:
        raise CommandError(f"--flits {args.flits} needs {packets} packets per VC; "
                           f"at most 65535 fit the traffic generator")
    vcs = tuple(range(args.vcs))
    return LinkRun(credits=args.credits, latency=args.latency,
                   flip_rate=args.error_rate * (1 - args.drop_share),
                   drop_rate=args.error_rate * args.drop_share, packets=packets,
                   fixed_length=args.length, length_mask=7, seed=args.seed,
                   channel_seed=args.seed * 2654435761 % (1 << 32) or 1,
                   src_stall=args.stall, snk_stall=args.stall, vcs_ab=vcs,
                   vcs_ba=vcs if args.both else ())


def verdict(r: dict) -> list[str]:
    """What went wrong in one direction's figures (empty: delivered exactly once, intact)."""
    problems = []
    if r["packets_ok"] != r["packets_expected"]:
        problems.append(f"{r['packets_expected'] - r['packets_ok']} packets not delivered intact")
    for key in ("lost_or_reordered", "duplicated", "corrupted_words", "socket_errors"):
        if r[key]:
            problems.append(f"{key.replace('_', ' ')}: {r[key]}")
    if r["protocol_violations"]:
        problems.append(f"{r['protocol_violations']} protocol violations, first: "
                        f"{RULES.get(r['protocol_first_rule'], '?')}")
    if r["frames_ok"] != r["frames"] - r["frames_damaged"]:
        problems.append("a damaged frame was accepted or a clean one rejected")
    if r["detected_crc_errors"] + r["detected_framing_errors"] < r["frames_damaged"]:
        problems.append("fewer detections than damaged frames")
    return problems


def _text(run: LinkRun, result: dict, bound: dict) -> str:
    lines = [f"link socket 0 <-> socket 1: credits {run.credits}/VC, latency {run.latency} "
             f"cycles, error rate {run.flip_rate + run.drop_rate:g}/flit "
             f"({result['cycles']} cycles, {result['wall_seconds']:.1f} s)"]
    for d, name in (("ab", "0 -> 1"), ("ba", "1 -> 0")):
        if d not in result:
            continue
        r = result[d]
        problems = verdict(r)
        lines += [
            f"  {name}: {r['flits']} flits, {r['packets_ok']}/{r['packets_expected']} packets "
            f"intact ({r['words']} words)",
            f"    goodput          {r['goodput_words_per_cycle']:.3f} words/cycle (bound "
            f"{bound[d]:.3f})",
            f"    mean latency     {r['mean_latency_cycles']:.1f} cycles per packet "
            f"(first word in to first word out)",
            f"    injected         {r['injected_flips']} bit flips, {r['injected_drops']} drops "
            f"in {r['frames_damaged']} of {r['frames']} frames",
            f"    detected         {r['detected_crc_errors']} CRC, {r['detected_framing_errors']} "
            f"framing; {r['seq_gaps']} sequence gaps, {r['duplicates_dropped']} duplicates "
            f"dropped",
            f"    retries          {r['replayed_frames']} frames replayed, {r['naks']} NAKs, "
            f"{r['timeouts']} timeouts",
            f"    delivery         lost/reordered {r['lost_or_reordered']}, duplicated "
            f"{r['duplicated']}, corrupted words {r['corrupted_words']}, protocol violations "
            f"{r['protocol_violations']}",
            "    verdict          " + ("OK" if not problems else "FAIL: " + "; ".join(problems)),
        ]
    return "\n".join(lines)


def run(args):
    description = _description(args)
    try:
        description.validate(DEFAULT_PARAMS)
    except ValueError as error:
        raise CommandError(str(error)) from None
    progress(args, f"link: {description.packets} packets per VC, building/running ...")
    result = run_link(description, DEFAULT_PARAMS, run_name=f"rdu_link_seed{args.seed}",
                      progress=None if args.quiet else (lambda m: progress(args, m)),
                      log=lambda m: progress(args, m))
    payload = min(args.length or 4.5, args.credits)
    rtt = round_trip_cycles(DEFAULT_PARAMS, args.latency, payload)
    bound = {d: min(payload / (payload + 2), args.credits * len(description.vcs_ab) / rtt)
             for d in ("ab", "ba")}
    result.pop("stats")
    for d in ("ab", "ba"):
        if d in result:
            result[d]["goodput_bound"] = bound[d]
            result[d]["ok"] = not verdict(result[d])
    result["round_trip_model_cycles"] = rtt
    emit(args, result, _text(description, result, bound))
    return 0 if all(result[d]["ok"] for d in ("ab", "ba") if d in result) else 1
