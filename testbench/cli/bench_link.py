"""Benchmark of the RDU-to-RDU link: goodput against its bound over credits and latency,
and a 1e-4 error-rate run with drops.

Goodput sweep: one VC, A -> B only, 8-word packets (payload efficiency 8/10),
clean channel; frames carry min(8, credits) words. Bound = min(efficiency,
credits / round trip) with the least round trip of
:func:`testbench.cli.link_sim.round_trip_cycles`, taken over the run's own
words (:func:`~testbench.cli.link_sim.goodput_bound`: the first window of
credits needs no round trip), so the measured goodput never exceeds it.
``halving`` lists, per latency, goodput(c) / goodput(2c) for credit pairs both
below the bandwidth-delay product (ideal 0.5).

Floor (:mod:`.bench_floors`): ``link_goodput``, every sweep point's goodput in %
of its bound.
"""

from .bench_floors import check
from .link_cmd import verdict
from .link_sim import DEFAULT_PARAMS, LinkRun, goodput_bound, round_trip_cycles, run_link

LATENCIES = (4, 16, 48)
CREDITS = (4, 8, 16, 32, 64)
PAYLOAD = 8
PACKETS = 400
CTRL_INTERVAL = 16


def run_bench(log):
    rows, floors = [], []
    for latency in LATENCIES:
        for credits in CREDITS:
            log(f"link: latency {latency}, credits {credits}")
            run = LinkRun(credits=credits, latency=latency, packets=PACKETS,
                          fixed_length=PAYLOAD, vcs_ab=(0,), vcs_ba=(),
                          ctrl_interval=CTRL_INTERVAL)
            r = run_link(run, run_name=f"bench_link_l{latency}_c{credits}", log=log)["ab"]
            payload = min(PAYLOAD, credits)
            rtt = round_trip_cycles(DEFAULT_PARAMS, latency, payload)
            efficiency = payload / (payload + 2)
            bound = goodput_bound(DEFAULT_PARAMS, latency, credits, payload,
                                  words=PACKETS * PAYLOAD)
            rows.append({"latency": latency, "credits": credits,
                         "goodput_words_per_cycle": r["goodput_words_per_cycle"],
                         "bound": bound, "efficiency_bound": efficiency,
                         "credit_bound": credits / rtt, "round_trip_model_cycles": rtt,
                         "share_of_bound": r["goodput_words_per_cycle"] / bound,
                         "bandwidth_delay_product_words": efficiency * rtt,
                         "mean_latency_cycles": r["mean_latency_cycles"],
                         "delivered_ok": not verdict(r)})
            floors.append(check("link_goodput", 100 * rows[-1]["share_of_bound"],
                                label=f"latency {latency} credits {credits}"))
            rows[-1].update(floors[-1].fields())
    halving = []
    for latency in LATENCIES:
        by_credits = {row["credits"]: row for row in rows if row["latency"] == latency}
        for low in CREDITS:
            high = 2 * low
            if high in by_credits and high < by_credits[high]["bandwidth_delay_product_words"]:
                halving.append({"latency": latency, "credits": [low, high],
                                "goodput_ratio": by_credits[low]["goodput_words_per_cycle"]
                                / by_credits[high]["goodput_words_per_cycle"]})
    log("link: 1e-4 errors per flit (half drops), >= 100k flits, both directions")
    run = LinkRun(credits=32, latency=16, flip_rate=5e-5, drop_rate=5e-5, packets=10_000,
                  channel_seed=11, seed=5)
    errors = run_link(run, run_name="bench_link_errors", log=log)
    errors.pop("stats")
    errors.pop("settings")
    data = {"goodput": rows, "halving": halving, "error_run": errors,
            "floors": [f.to_json() for f in floors]}
    lines = [f"link: goodput (words/cycle) vs bound min({PAYLOAD}/{PAYLOAD + 2}, credits / "
             f"round trip), 1 VC, {PAYLOAD}-word packets"]
    lines.append("  latency credits   goodput   bound  share  round trip  delivered  "
                 "share of bound")
    for row, floor in zip(rows, floors, strict=True):
        lines.append(f"  {row['latency']:7} {row['credits']:7} "
                     f"{row['goodput_words_per_cycle']:9.3f} {row['bound']:7.3f} "
                     f"{row['share_of_bound']:6.2f} "
                     f"{row['round_trip_model_cycles']:10.1f}  "
                     f"{'ok' if row['delivered_ok'] else 'FAIL':9}  "
                     f"{floor.value:5.1f}% {floor.verdict()}")
    lines.append("  halving credits below the bandwidth-delay product: " + ", ".join(
        f"L{h['latency']} {h['credits'][0]}/{h['credits'][1]} -> {h['goodput_ratio']:.2f}"
        for h in halving))
    for d in ("ab", "ba"):
        r = errors[d]
        lines.append(
            f"  1e-4 errors {d}: {r['flits']} flits, {r['injected_flips']} flips + "
            f"{r['injected_drops']} drops in {r['frames_damaged']} frames, detected "
            f"{r['detected_crc_errors']} CRC + {r['detected_framing_errors']} framing, "
            f"{r['replayed_frames']} replays, {r['packets_ok']}/{r['packets_expected']} packets "
            f"intact, goodput {r['goodput_words_per_cycle']:.3f}, "
            f"{'ok' if not verdict(r) else 'FAIL'}")
    return data, "\n".join(lines)
