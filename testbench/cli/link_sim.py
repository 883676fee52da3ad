"""A link run: its description (checked before simulation), the cocotb coroutines that
drive the link harness (``hdl/link/harness.py``) and the figures read back.

Traffic comes from the RTL generators and is checked by the RTL checkers, so
Python only wakes every ``chunk`` cycles to watch progress (the watchdog) and
reads every counter at the end.
"""

import os
import random
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, RisingEdge

from hdl.link.params import LinkParams
from testbench.bfm.clock_reset import start_clock_and_reset
from testbench.bfm.sim_io import save_outputs, sim_args
from testbench.bfm.watchdog import WatchdogTimeout
from testbench.sim.build_cache import Design

__all__ = ["LinkRun", "link_design", "run_link", "round_trip_cycles", "goodput_bound",
           "DEFAULT_PARAMS", "COCOTB_MODULE"]

COCOTB_MODULE = "testbench.cli.link_sim"
DEFAULT_PARAMS = LinkParams()


def link_design(params: LinkParams = DEFAULT_PARAMS) -> Design:
    """The harness design for ``params`` (one build serves every run setting)."""
    fields = asdict(params)
    fields["buffer_depths"] = list(params.buffer_depths)
    return Design("link_harness", "hdl.link.harness:make_link_harness", fields)


def round_trip_cycles(params: LinkParams, latency: int, payload: float) -> float:
    """Fewest cycles a data frame's credits take around the loop: from the cycle they are
    usable at the sender until the cycle they are usable again, the frame carrying
    ``payload`` (P) words, L = ``latency``, V = ``params.vcs``. Counted on the RTL, each
    term the distance between two events of the frame (the stage named does the work):

    ======================================  ======  ======================================
    from -> to                              cycles  stage (``hdl/link/``)
    ======================================  ======  ======================================
    credits usable -> first word accepted   1       packetizer IDLE opens the packet
    first word -> HEADER state              P       packetizer FILL, one word a cycle
                                                    (P + 1 for a packet cut short by its
                                                    credits: FILL sees them gone a cycle
                                                    after the last one went)
    HEADER -> header flit on the wire       1       packetizer HEADER writes the header
                                                    behind the payload; ``tail`` is a
                                                    register
    header flit -> CRC flit                 P + 1   serializer IDLE (header), DATA_BODY
                                                    (P payload flits)
    CRC flit sent -> received               L       channel delay line
    CRC flit -> first word drained          1       receiver commits at the good CRC
                                                    (``written`` register)
    first drain -> control header           P       receiving user drains a word a cycle;
                                                    the control frame starts in the first
                                                    cycle without a drain, when ``freed``
                                                    holds the whole frame
    control header -> control CRC flit      V + 1   serializer CTRL_BODY: a credit word
                                                    per VC
    control CRC sent -> received            L       channel delay line
    control CRC -> credits usable           1       ``freed_remote`` register
    ======================================  ======  ======================================

    Sum: 3 P + 2 L + V + 6. No term for ``ctrl_interval``: a control frame owing a data
    frame's ACK goes without waiting for the interval while no data frame of the
    receiving side waits for the wire; that side's own data frames, and the interval
    between control frames then, can only lengthen the loop. The frame's credits travel
    together (the control frame waits for a cycle without a drain), so none comes back
    sooner, and a window of ``credits`` words moves at most ``credits`` words per round
    trip (:func:`goodput_bound`).
    """
    return 3 * payload + 2 * latency + params.vcs + 6


def goodput_bound(params: LinkParams, latency: int, credits: int, payload: int,
                  words: int | None = None) -> float:
    """Most payload words per cycle, over one VC in one direction, of frames of
    ``payload`` (P) words each with ``credits`` (c, a multiple of P) in flight: the
    smaller of the payload efficiency P / (P + 2) (every frame takes P + 2 flits, one a
    cycle) and c / R, R = :func:`round_trip_cycles`.

    With ``words`` (N, K = N / P frames) it is the bound of a finite run as
    ``_summary`` measures it: N / (last drained word's cycle - first's + 1), the first
    window of credits needing no round trip. With the receiving user always ready, frame
    j's words drain in P consecutive cycles ending at d_j; d_{j+1} >= d_j + P + 2 (the
    flits of frame j + 1 follow those of frame j on the wire) and d_{j+n} >= d_j + R with
    n = c / P (frame j + n needs frame j's credits, which come back after d_j; from d_j
    to d_{j+n} is the loop R). So the span is at least
    max(floor((K-1)/n) R + ((K-1) mod n)(P + 2), (K-1)(P + 2)) + P cycles.

    Assumed, as in ``rdu bench link``: a clean channel (no replays, NAKs or duplicate
    ACK requests), data in this direction only, a receiving user that is always ready,
    P < ``ctrl_interval`` and R < ``refresh`` (so no control frame starts while a frame
    drains, returning part of its credits early).
    """
    frame = payload + 2
    round_trip = round_trip_cycles(params, latency, payload)
    if words is None:
        return min(payload / frame, credits / round_trip)
    if credits % payload or words % payload:
        raise ValueError(f"the finite-run bound needs whole frames: {credits} credits and "
                         f"{words} words in frames of {payload}")
    steps, window = words // payload - 1, credits // payload
    span = max(steps // window * round_trip + steps % window * frame, steps * frame) + payload
    return words / span


def _retry_round_trip(params: LinkParams, latency: int, ctrl_interval: int) -> float:
    """A generous (not a least) round trip of a largest frame, for the default retry
    timeout: both channel passes, the frame twice, a control frame, half the control
    interval and a few registers."""
    frame = params.max_payload + 2
    return 2 * latency + 2 * frame + params.vcs + 2 + ctrl_interval / 2 + 4


@dataclass(frozen=True)
class LinkRun:
    """What to run over a link: credits per VC (words), channel latency (cycles), error
    rates per flit (bit flip, drop), seeds, packets per enabled VC per direction, packet
    length (``fixed_length`` words, or 0 for 1 + random & ``length_mask``), stall
    probabilities of the user sides, enabled VCs per direction, the destination socket
    of A's traffic (None = the peer), retry timeout (None = from the round trip)."""

    credits: int = 32
    latency: int = 4
    flip_rate: float = 0.0
    drop_rate: float = 0.0
    channel_seed: int = 1
    packets: int = 200
    fixed_length: int = 0
    length_mask: int = 7
    seed: int = 1
    src_stall: float = 0.0
    snk_stall: float = 0.0
    vcs_ab: tuple = (0, 1)
    vcs_ba: tuple = (0, 1)
    dest: int | None = None
    ctrl_interval: int = 16
    refresh: int = 256
    timeout: int | None = None
    max_cycles: int = 5_000_000

    def validate(self, params: LinkParams) -> None:
        """Raise ValueError, naming the problem, for a description that cannot work."""
        if self.credits <= 0:
            raise ValueError(f"credits must be positive: with {self.credits} credits per VC "
                             f"no packet could ever be sent")
        smallest = min(params.buffer_depths)
        if self.credits > smallest:
            raise ValueError(f"{self.credits} credits exceed the smallest receive buffer "
                             f"({smallest} words, VC {params.buffer_depths.index(smallest)})")
        if not 1 <= self.latency <= params.max_latency:
            raise ValueError(f"latency {self.latency} outside 1..{params.max_latency} cycles")
        for name in ("flip_rate", "drop_rate", "src_stall", "snk_stall"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), not {getattr(self, name)}")
        if self.flip_rate + self.drop_rate >= 1.0:
            raise ValueError("flip_rate + drop_rate must stay below 1")
        if not 1 <= self.packets < 1 << 16:
            raise ValueError(f"packets per VC must be 1..65535, not {self.packets}")
        if not 0 <= self.fixed_length <= 255:
            raise ValueError(f"fixed_length must be 0..255, not {self.fixed_length}")
        if not 0 <= self.length_mask <= 254:
            raise ValueError(f"length_mask must be 0..254, not {self.length_mask}")
        for name in ("vcs_ab", "vcs_ba"):
            for vc in getattr(self, name):
                if not 0 <= vc < params.vcs:
                    raise ValueError(f"{name} names VC {vc}; the link has VCs "
                                     f"0..{params.vcs - 1}")
        if not self.vcs_ab and not self.vcs_ba:
            raise ValueError("no VC enabled in either direction: nothing to send")
        if self.dest is not None:
            if not 0 <= self.dest < params.sockets:
                raise ValueError(f"destination socket {self.dest} does not exist (sockets "
                                 f"0..{params.sockets - 1})")
            if self.dest != params.socket_b:
                raise ValueError(f"destination socket {self.dest} is not reachable over the "
                                 f"link from socket {params.socket_a} (its peer is socket "
                                 f"{params.socket_b})")
        if not 1 <= self.ctrl_interval <= 255 or not 1 <= self.refresh < 1 << 16:
            raise ValueError("ctrl_interval must be 1..255 and refresh 1..65535 cycles")
        if not self.seed or not self.channel_seed:
            raise ValueError("seeds must be non-zero (xorshift32 state)")
        timeout = self.effective_timeout(params)
        minimum = round_trip_cycles(params, self.latency, params.max_payload)
        if not minimum <= timeout < 1 << 16:
            raise ValueError(f"timeout {timeout} must be at least the round trip of a largest "
                             f"frame ({minimum} cycles) and below 65536")

    def effective_timeout(self, params: LinkParams) -> int:
        if self.timeout is not None:
            return self.timeout
        return int(2 * _retry_round_trip(params, self.latency, self.ctrl_interval)
                   + self.ctrl_interval + 64)

    def settings(self, params: LinkParams) -> dict:
        """Values of the harness's setting ports."""
        def threshold(rate):
            return min(int(round(rate * (1 << 32))), (1 << 32) - 1)
        return {
            "credit_limit": self.credits, "latency": self.latency,
            "flip_threshold": threshold(self.flip_rate),
            "drop_threshold": threshold(self.drop_rate), "channel_seed": self.channel_seed,
            "timeout": self.effective_timeout(params), "ctrl_interval": self.ctrl_interval,
            "refresh": self.refresh, "packets": self.packets, "fixed_length": self.fixed_length,
            "length_mask": self.length_mask, "gen_seed": self.seed,
            "src_stall": threshold(self.src_stall), "snk_stall": threshold(self.snk_stall),
            "enable_ab": sum(1 << v for v in self.vcs_ab),
            "enable_ba": sum(1 << v for v in self.vcs_ba), "external": 0,
        }


def _summary(params: LinkParams, run: LinkRun, stats: dict) -> dict:
    """Figures of a finished run: per direction goodput, latency, errors, retries."""
    result = {"cycles": stats["cycle"], "stats": stats, "settings": run.settings(params)}
    for index, d in enumerate(("ab", "ba")):
        vcs = run.vcs_ab if d == "ab" else run.vcs_ba
        if not vcs:
            continue
        words = sum(stats[f"{d}_vc{v}_words"] for v in vcs)
        first = min(stats[f"{d}_vc{v}_first_word_cycle"] for v in vcs)
        last = max(stats[f"{d}_vc{v}_last_word_cycle"] for v in vcs)
        packets = sum(stats[f"{d}_vc{v}_packets_seen"] for v in vcs)
        latency_sum = sum(stats[f"{d}_vc{v}_first_cycle_sum"]
                          - stats[f"{d}_vc{v}_sent_first_cycle_sum"] for v in vcs)
        result[d] = {
            "words": words, "packets": packets,
            "packets_ok": sum(stats[f"{d}_vc{v}_packets_ok"] for v in vcs),
            "packets_expected": run.packets * len(vcs),
            "lost_or_reordered": sum(stats[f"{d}_vc{v}_out_of_order"] for v in vcs),
            "duplicated": sum(stats[f"{d}_vc{v}_duplicates"] for v in vcs),
            "corrupted_words": sum(stats[f"{d}_vc{v}_corrupted_words"] for v in vcs),
            "socket_errors": sum(stats[f"{d}_vc{v}_socket_errors"] for v in vcs),
            "goodput_words_per_cycle": words / max(1, last - first + 1),
            "mean_latency_cycles": latency_sum / max(1, packets),
            "flits": stats[f"{d}_ch_flits"], "injected_flips": stats[f"{d}_ch_flips"],
            "injected_drops": stats[f"{d}_ch_drops"], "frames": stats[f"{d}_ch_frames"],
            "frames_damaged": stats[f"{d}_ch_frames_damaged"],
            "frames_ok": stats[f"{d}_rx_frames_ok"],
            "detected_crc_errors": stats[f"{d}_rx_crc_errors"],
            "detected_framing_errors": stats[f"{d}_rx_framing_errors"],
            "seq_gaps": stats[f"{d}_rx_seq_gaps"],
            "duplicates_dropped": stats[f"{d}_rx_duplicates"],
            "rejected": stats[f"{d}_rx_rejected"],
            "replayed_frames": stats[f"{d}_tx_replays"], "timeouts": stats[f"{d}_tx_timeouts"],
            "naks": stats[f"{d}_tx_naks"], "data_frames": stats[f"{d}_tx_data_frames"],
            "protocol_violations": stats[f"{d}_proto_violations"],
            "protocol_first_rule": stats[f"{d}_proto_first_rule"],
            "commits_checked": stats[f"{d}_proto_commits_checked"],
        }
        # The control frames of this direction travel on the other channel.
        result[d]["ctrl_frames_returned"] = stats[f"{('ba', 'ab')[index]}_tx_ctrl_frames"]
    return result


def run_link(run: LinkRun, params: LinkParams = DEFAULT_PARAMS, *, run_name: str,
             seed: int = 1, progress=None, chunk: int = 2000, idle_limit: int = 100_000,
             log=print) -> dict:
    """Validate ``run``, simulate it and return its figures (see :func:`_summary`).

    ``progress(message)`` receives a line every ``chunk`` cycles or so; the run fails
    (SimulationFailed) if no word moves for ``idle_limit`` cycles or after
    ``run.max_cycles``.
    """
    from hdl.link.harness import stat_names
    from testbench.sim.runner import simulate

    run.validate(params)
    names = stat_names(params)
    progress_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"link-progress-{os.getpid()}-" \
        f"{random.getrandbits(32):08x}.txt"
    args = {"settings": run.settings(params), "names": names, "chunk": chunk,
            "idle_limit": idle_limit, "max_cycles": run.max_cycles,
            "enabled": {"ab": list(run.vcs_ab), "ba": list(run.vcs_ba)},
            "packets": run.packets, "progress_path": str(progress_path) if progress else ""}
    stop = threading.Event()
    watcher = None
    if progress:
        def watch():
            seen = ""
            while not stop.wait(2.0):
                try:
                    text = progress_path.read_text().strip()
                except OSError:
                    continue
                if text and text != seen:
                    seen = text
                    progress(text)
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
    started = time.monotonic()
    try:
        result = simulate(link_design(params), COCOTB_MODULE, run_name=run_name, seed=seed,
                          args=args, testcase="link_traffic", log=log)
    finally:
        stop.set()
        if watcher:
            watcher.join()
        progress_path.unlink(missing_ok=True)
    values = result.outputs["stats"]
    stats = {name: int(value) for name, value in zip(names, values, strict=True)}
    summary = _summary(params, run, stats)
    summary["wall_seconds"] = time.monotonic() - started
    return summary


# --------------------------------------------------------------------------------------------
# cocotb side (runs inside the simulator)
# --------------------------------------------------------------------------------------------

async def _configure(dut, settings: dict):
    dut.start.value = 0
    dut.run.value = 0
    dut.hold.value = 0
    for name, value in settings.items():
        getattr(dut, name).value = value
    await start_clock_and_reset(dut)
    dut.start.value = 1
    await RisingEdge(dut.clk)
    dut.start.value = 0
    dut.run.value = 1


async def _quiet_stats(dut, settings: dict, names) -> np.ndarray:
    """Let the last ACKs and credits settle, stop new frames, let the wires empty, read."""
    await ClockCycles(dut.clk, 4 * int(settings["timeout"]))
    dut.hold.value = 1
    await ClockCycles(dut.clk, 2 * int(settings["latency"]) + 300)
    return _read_stats(dut, names)


def _read_stats(dut, names) -> np.ndarray:
    return np.array([int(getattr(dut, name).value) for name in names], dtype=np.uint64)


def _stalled_description(dut, enabled: dict, packets: int) -> str:
    parts = []
    for d, vcs in enabled.items():
        for v in vcs:
            seen = int(getattr(dut, f"{d}_vc{v}_packets_seen").value)
            if seen < packets:
                parts.append(f"direction {d} VC {v} at {seen}/{packets} packets")
        parts.append(f"{d}: tx replays {int(getattr(dut, f'{d}_tx_replays').value)}, "
                     f"timeouts {int(getattr(dut, f'{d}_tx_timeouts').value)}, credit stall "
                     f"cycles {int(getattr(dut, f'{d}_tx_credit_stall_cycles').value)}, rx ok "
                     f"{int(getattr(dut, f'{d}_rx_frames_ok').value)}")
    return "; ".join(parts)


@cocotb.test()
async def link_traffic(dut):
    """Run the RTL traffic until every enabled checker has its packets; read counters."""
    args = sim_args()
    await _configure(dut, args["settings"])
    enabled, packets = args["enabled"], args["packets"]
    checkers = [f"{d}_vc{v}" for d, vcs in enabled.items() for v in vcs]
    progress_path = args["progress_path"]
    cycles, last_words, last_move = 0, -1, 0
    while True:
        await ClockCycles(dut.clk, args["chunk"])
        cycles += args["chunk"]
        words = sum(int(getattr(dut, f"{c}_words").value) for c in checkers)
        if words != last_words:
            last_words, last_move = words, cycles
        done = all(int(getattr(dut, f"{c}_done").value) for c in checkers)
        if progress_path:
            total = packets * len(checkers)
            seen = sum(int(getattr(dut, f"{c}_packets_seen").value) for c in checkers)
            Path(progress_path).write_text(
                f"link: {seen}/{total} packets, {words} words, cycle {cycles}\n")
        if done:
            break
        if cycles - last_move > args["idle_limit"]:
            raise WatchdogTimeout(
                f"link_harness: no word delivered for {args['idle_limit']} cycles (cycle "
                f"{cycles}); stopped: {_stalled_description(dut, enabled, packets)}")
        if cycles > args["max_cycles"]:
            raise WatchdogTimeout(
                f"link_harness: exceeded {args['max_cycles']} cycles; "
                f"{_stalled_description(dut, enabled, packets)}")
    save_outputs(stats=await _quiet_stats(dut, args["settings"], args["names"]))
