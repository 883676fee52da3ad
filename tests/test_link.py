"""RDU-to-RDU link: CRC and frame codec, user streams through a lossy channel, error
detection, retry, credits, and descriptions rejected before simulation.

Every simulated test runs the link harness (two endpoints, two channel models,
RTL traffic generators and checkers, a passive protocol checker per direction)
and asserts the protocol checker saw no violation. The stream test drives A's
user side from cocotb (random stalls on both sides, scoreboard per VC,
watchdog); the traffic tests use the RTL generators and checkers so Python
stays off the per-cycle path.
"""

import random

import cocotb
import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib.crc import Algorithm
from amaranth.sim import Simulator
from cocotb.triggers import ClockCycles

from hdl.link.crc import crc32_next
from hdl.link.harness import stat_names
from hdl.link.params import LinkParams
from testbench.bfm.scoreboard import Scoreboard
from testbench.bfm.sim_io import save_outputs, sim_args
from testbench.bfm.stream import StreamSink, StreamSource
from testbench.bfm.watchdog import Watchdog
from testbench.cli import link_sim
from testbench.cli.bench_floors import FLOORS
from testbench.cli.link_sim import (
    DEFAULT_PARAMS,
    LinkRun,
    goodput_bound,
    link_design,
    round_trip_cycles,
    run_link,
)
from testbench.golden.link import (
    CRC_INIT,
    CRC_POLY,
    KIND_DATA,
    Header,
    crc32_words,
    decode_frame,
    encode_frame,
    traffic_packets,
)
from testbench.sim.runner import simulate

SEEDS = [1, 2]
WIDTH = DEFAULT_PARAMS.width


# --------------------------------------------------------------------------------------------
# cocotb side: A's user streams driven by BFMs (the harness's ``external`` mode)
# --------------------------------------------------------------------------------------------

def _send_word(data: int, dest: int, last: int) -> int:
    return data | dest << WIDTH | last << (WIDTH + 4)


def _recv_word(data: int, src: int, dest: int, last: int) -> int:
    return data | src << WIDTH | dest << (WIDTH + 4) | last << (WIDTH + 8)


@cocotb.test()
async def link_streams(dut):
    """Messages per VC from cocotb through A -> B over a lossy channel; B -> A runs RTL
    traffic at the same time. Scoreboard per VC, watchdog over every stream end."""
    args = sim_args()
    seed = cocotb.RANDOM_SEED
    settings = dict(args["settings"], external=1, enable_ab=0)
    await link_sim._configure(dut, settings)
    rng = random.Random(seed)
    params = args["params"]
    sources, sinks, boards = [], [], []
    for vc in range(len(params["buffer_depths"])):
        board = Scoreboard(f"link vc{vc}", formatter=lambda v: f"{v:x}")
        words = []
        for _ in range(args["messages"]):
            length = rng.randint(1, 3 * params["max_payload"] // 2)
            for i in range(length):
                data = rng.getrandbits(WIDTH)
                last = int(i == length - 1)
                words.append(_send_word(data, params["socket_b"], last))
                board.expect([_recv_word(data, params["socket_a"], params["socket_b"], last)])
        source = StreamSource(dut, f"ext_send__{vc}", dut.clk, random.Random(seed + 10 + vc),
                              args["stall"])
        sink = StreamSink(dut, f"ext_recv__{vc}", dut.clk, random.Random(seed + 20 + vc),
                          args["stall"], on_beat=board.receive)
        source.send(words)
        sources.append(source)
        sinks.append(sink)
        boards.append(board)
    watchdog = Watchdog(dut, dut.clk, sources + sinks, idle_cycles=20_000,
                        max_cycles=2_000_000, unit="link_harness (A -> B user streams)")
    cocotb.start_soon(watchdog.run())
    for sink, board in zip(sinks, boards, strict=True):
        await sink.wait_for(len(board.expected))
    while not all(int(getattr(dut, f"ba_vc{v}_done").value) for v in range(len(sinks))):
        await ClockCycles(dut.clk, 100)
    for board in boards:
        board.check_done()
    save_outputs(stats=await link_sim._quiet_stats(dut, settings, args["names"]))


# --------------------------------------------------------------------------------------------
# pytest side
# --------------------------------------------------------------------------------------------

def _check_clean_delivery(result: dict, run: LinkRun):
    """Zero packets lost, duplicated, reordered or corrupted; protocol checker silent;
    every damaged frame rejected and detected."""
    for d in ("ab", "ba"):
        if d not in result:
            continue
        r = result[d]
        assert r["packets_ok"] == r["packets_expected"] == r["packets"], r
        assert r["lost_or_reordered"] == r["duplicated"] == r["corrupted_words"] == 0, r
        assert r["socket_errors"] == 0, r
        assert r["protocol_violations"] == 0, (r["protocol_first_rule"], r)
        assert r["commits_checked"] >= r["packets"], r
        # A damaged frame is never accepted, a clean one always is ...
        assert r["frames_ok"] == r["frames"] - r["frames_damaged"], r
        # ... and every damaged frame raised at least one detection.
        detected = r["detected_crc_errors"] + r["detected_framing_errors"]
        assert detected >= r["frames_damaged"], r
        assert r["rejected"] == 0, r


def test_golden_crc_matches_amaranth_reference():
    reference = Algorithm(crc_width=32, polynomial=CRC_POLY, initial_crc=CRC_INIT,
                          reflect_input=False, reflect_output=False, xor_output=0)(data_width=32)
    rng = random.Random(5)
    for length in (1, 2, 7, 33):
        words = [rng.getrandbits(32) for _ in range(length)]
        assert crc32_words(words, 32) == reference.compute(words)


def test_golden_codec_detects_every_single_bit_flip():
    header = Header(kind=KIND_DATA, vc=1, seq=200, length=3, src=0, dst=1, eom=1)
    frame = encode_frame(header, [1, 0xFFFFFFFF, 0x12345678], 32)
    assert decode_frame(frame, 32) == (header, [1, 0xFFFFFFFF, 0x12345678])
    for index in range(len(frame)):
        for bit in range(32):
            damaged = list(frame)
            damaged[index] ^= 1 << bit
            with pytest.raises(ValueError):
                decode_frame(damaged, 32)
    with pytest.raises(ValueError, match="length"):
        decode_frame(encode_frame(Header(kind=KIND_DATA, length=2), [5], 32), 32)


@pytest.mark.parametrize("width", [32, 64])
def test_rtl_crc_update_matches_golden(width):
    crc, word, out = Signal(32), Signal(width), Signal(32)
    m = Module()
    m.d.comb += out.eq(crc32_next(crc, word, width))
    rng = random.Random(width)
    cases = [(CRC_INIT, 0), (0, 1 << (width - 1))] + [
        (rng.getrandbits(32), rng.getrandbits(width)) for _ in range(50)]

    async def bench(ctx):
        for state, value in cases:
            ctx.set(crc, state)
            ctx.set(word, value)
            assert ctx.get(out) == crc32_words([value], width, state)

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()


def test_traffic_sequence_golden_shape():
    packets = traffic_packets(seed=7, packets=20, fixed_length=0, length_mask=7)
    assert [p[0] & 0xFFFF for p in packets] == list(range(20))
    assert all(1 <= len(p) <= 8 for p in packets)
    assert len({len(p) for p in packets}) > 1


def test_link_user_streams_through_lossy_channel(seed, run_name):
    run = LinkRun(credits=16, latency=6, flip_rate=5e-3, drop_rate=5e-3, packets=150,
                  channel_seed=seed * 7919 + 1, seed=seed)
    run.validate(DEFAULT_PARAMS)
    names = stat_names(DEFAULT_PARAMS)
    params = {"buffer_depths": list(DEFAULT_PARAMS.buffer_depths),
              "max_payload": DEFAULT_PARAMS.max_payload,
              "socket_a": DEFAULT_PARAMS.socket_a, "socket_b": DEFAULT_PARAMS.socket_b}
    result = simulate(link_design(DEFAULT_PARAMS), "test_link", run_name=run_name, seed=seed,
                      testcase="link_streams",
                      args={"settings": run.settings(DEFAULT_PARAMS), "names": names,
                            "params": params, "messages": 40, "stall": 0.3})
    stats = {n: int(v) for n, v in zip(names, result.outputs["stats"], strict=True)}
    for d in ("ab", "ba"):
        assert stats[f"{d}_proto_violations"] == 0, stats[f"{d}_proto_first_rule"]
        assert stats[f"{d}_ch_flips"] + stats[f"{d}_ch_drops"] > 0  # errors really happened
        assert stats[f"{d}_rx_frames_ok"] == stats[f"{d}_ch_frames"] - \
            stats[f"{d}_ch_frames_damaged"]
    assert stats["ab_tx_replays"] > 0
    assert all(stats[f"ba_vc{v}_packets_ok"] == run.packets for v in range(2))


def test_link_clean_channel_no_errors_no_retries(run_name):
    run = LinkRun(credits=32, latency=4, packets=300)
    result = run_link(run, run_name=run_name)
    _check_clean_delivery(result, run)
    for d in ("ab", "ba"):
        r = result[d]
        assert r["frames_damaged"] == r["detected_crc_errors"] == 0, r
        assert r["detected_framing_errors"] == r["replayed_frames"] == r["timeouts"] == 0, r
        assert r["frames_ok"] == r["frames"], r


def test_link_error_rate_1e_2_delivers_exactly_once_in_order(seed, run_name):
    """~8k flits per direction at 1e-2 errors per flit (half flips, half drops)."""
    run = LinkRun(credits=24, latency=8, flip_rate=5e-3, drop_rate=5e-3, packets=700,
                  channel_seed=seed, seed=seed * 31 + 3, src_stall=0.2, snk_stall=0.2)
    result = run_link(run, run_name=run_name)
    _check_clean_delivery(result, run)
    for d in ("ab", "ba"):
        r = result[d]
        assert r["flits"] >= 7000, r
        assert r["injected_flips"] > 10 and r["injected_drops"] > 10, r
        assert r["detected_crc_errors"] > 0 and r["detected_framing_errors"] > 0, r
        assert r["replayed_frames"] > 0, r


def test_link_error_rate_1e_4_over_100k_flits(run_name):
    """The must-show run: 1e-4 errors per flit with drops, >= 100,000 flits per direction."""
    run = LinkRun(credits=32, latency=16, flip_rate=5e-5, drop_rate=5e-5, packets=10_000,
                  fixed_length=0, length_mask=7, channel_seed=11, seed=5)
    result = run_link(run, run_name=run_name)
    _check_clean_delivery(result, run)
    for d in ("ab", "ba"):
        assert result[d]["flits"] >= 100_000, result[d]
        assert result[d]["frames_damaged"] > 0, result[d]


def test_halving_credits_below_bandwidth_delay_product_halves_goodput(run_name):
    """At 32 cycles each way the round trip is ~88 cycles: 8 and 16 credits are both
    below the bandwidth-delay product, 64 is above it (bandwidth-bound)."""
    goodput = {}
    for credits in (8, 16, 64):
        run = LinkRun(credits=credits, latency=32, packets=300, fixed_length=4, vcs_ab=(0,),
                      vcs_ba=())
        result = run_link(run, run_name=f"{run_name}_c{credits}")
        _check_clean_delivery(result, run)
        goodput[credits] = result["ab"]["goodput_words_per_cycle"]
    assert 0.45 <= goodput[8] / goodput[16] <= 0.55, goodput
    assert goodput[64] >= 0.9 * 4 / 6, goodput  # payload efficiency of 4-word packets


def test_round_trip_counts_the_rtl_stages():
    """3 P + 2 L + V + 6 (stages in the docstring of ``round_trip_cycles``); the control
    interval is no term of the least round trip."""
    assert round_trip_cycles(DEFAULT_PARAMS, 4, 4) == 28
    assert round_trip_cycles(DEFAULT_PARAMS, 16, 8) == 64
    assert goodput_bound(DEFAULT_PARAMS, 4, 64, 8) == pytest.approx(0.8)
    assert goodput_bound(DEFAULT_PARAMS, 48, 16, 8) == pytest.approx(16 / 128)
    # A finite run: the first window needs no round trip, so the bound is a little higher.
    assert goodput_bound(DEFAULT_PARAMS, 16, 32, 8, words=800) == pytest.approx(800 / 1574)


@pytest.mark.parametrize("latency,credits", [(4, 4), (4, 8), (4, 32), (4, 64), (16, 16),
                                             (16, 32), (48, 64)])
def test_goodput_never_exceeds_its_bound(latency, credits, run_name):
    """The bound of ``rdu bench link`` stays honest: one point of each regime (one frame
    per round trip, several, the knee where credits just cover the round trip, payload
    efficiency) measures at most the bound and, as the bench floor asks, not far below."""
    payload, packets = min(8, credits), 100
    run = LinkRun(credits=credits, latency=latency, packets=packets, fixed_length=8,
                  vcs_ab=(0,), vcs_ba=())
    result = run_link(run, run_name=run_name)
    _check_clean_delivery(result, run)
    goodput = result["ab"]["goodput_words_per_cycle"]
    bound = goodput_bound(DEFAULT_PARAMS, latency, credits, payload, words=8 * packets)
    assert goodput <= bound, (goodput, bound)
    assert 100 * goodput / bound >= FLOORS["link_goodput"].floor, (goodput, bound)


@pytest.mark.parametrize("make,needle", [
    (lambda: LinkRun(credits=0).validate(DEFAULT_PARAMS), "credits must be positive"),
    (lambda: LinkParams(buffer_depths=(64, 0)), "VC 1 has no receive buffer"),
    (lambda: LinkRun(dest=5).validate(DEFAULT_PARAMS), "destination socket 5 does not exist"),
    (lambda: LinkRun(dest=2).validate(LinkParams(sockets=4)), "not reachable over the link"),
    (lambda: LinkRun(credits=128).validate(DEFAULT_PARAMS), "exceed the smallest receive"),
    (lambda: LinkRun(vcs_ab=(3,)).validate(DEFAULT_PARAMS), "names VC 3"),
    (lambda: LinkRun(latency=4, timeout=10).validate(DEFAULT_PARAMS), "timeout 10"),
    (lambda: LinkParams(socket_b=2), "socket_b 2 does not exist"),
])
def test_impossible_link_descriptions_are_rejected(make, needle):
    with pytest.raises(ValueError, match=needle):
        make()


def test_rejected_before_simulation(monkeypatch):
    def no_simulation(*args, **kwargs):
        raise AssertionError("simulation started for an invalid description")

    monkeypatch.setattr("testbench.sim.runner.simulate", no_simulation)
    with pytest.raises(ValueError, match="credits must be positive"):
        run_link(LinkRun(credits=0), run_name="never")


@pytest.mark.regress
@pytest.mark.parametrize("latency", [4, 48])
def test_link_error_rate_1e_4_long_sweep(latency, seed, run_name):
    """About 850k flits per direction (65535 packets per VC, two VCs, both directions)."""
    run = LinkRun(credits=48, latency=latency, flip_rate=5e-5, drop_rate=5e-5, packets=65_535,
                  channel_seed=seed * 101 + latency, seed=seed + 17, src_stall=0.1,
                  snk_stall=0.1)
    result = run_link(run, run_name=run_name)
    _check_clean_delivery(result, run)
    for d in ("ab", "ba"):
        assert result[d]["flits"] >= 800_000, result[d]
        assert result[d]["frames_damaged"] > 20, result[d]
