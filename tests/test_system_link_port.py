"""The socket-link port alone (LinkNode + flit serializer/deserializer), every stream
stalled at random (seeded) on both sides, under a watchdog.

Checks: the link record is taken out of the Program Load stream and every other
record passes through unchanged; flits of a flow routed to the link, from the AGCU
and from the mesh, leave as link words (renamed to their far flow id, addressed
to the peer, end-of-message only on a flit's last word) and are nothing but
those; every other flit from the mesh reaches the AGCU; received link words
become flits entering the tile with the AGCU's own, each source in order, and the
paired flows enter strictly alternately, local first; a program takes exactly the link
flits its record says (none after reset), the rest wait in the link.

The cocotb coroutine below runs inside the simulator; the pytest function at the
bottom builds the harness and starts it.
"""

import random

import cocotb
import pytest
from cocotb.triggers import ClockCycles

from hdl.rdu.config import RDUParams
from hdl.system.flit_serializer import words_per_flit
from hdl.system.link_node import link_record_words
from hdl.system.link_port_harness import PEER, SOCKET
from hdl.tile.config_distributor import record_header
from testbench.bfm.clock_reset import start_clock_and_reset
from testbench.bfm.sim_io import sim_args
from testbench.bfm.stream import StreamSink, StreamSource
from testbench.bfm.watchdog import Watchdog
from testbench.sim.build_cache import Design
from testbench.sim.runner import simulate

SEEDS = [1, 2, 3]
LANES, FLOWS, WIDTH = 4, 16, 32
VEC = 32 * LANES
FLIT_BITS = VEC + 15
WORDS = words_per_flit(FLIT_BITS, WIDTH)
MASK = (1 << WIDTH) - 1
LINK_FLOW, FAR_FLOW, LOCAL_FLOW, PAIR_FLOW = 5, 9, 2, 3
AGCU_PLAIN, TILE_PLAIN, LINK_PLAIN = 7, 6, 8


def _flit(data, flow, seq=0, last=0):
    return data | flow << VEC | seq << VEC + 6 | last << VEC + 14


def _flow(flit):
    return flit >> VEC & 0x3F


def _recv_words(flit, last):
    words = [(flit >> (WIDTH * i)) & MASK for i in range(WORDS)]
    return [w | PEER << WIDTH | SOCKET << WIDTH + 4 | int(last and i == WORDS - 1) << WIDTH + 8
            for i, w in enumerate(words)]


def _origin(flit):
    return flit >> (VEC - 8) & 0xFF   # the top byte of the data names the source


def _in_order(received, sent, what):
    mine = [f for f in received if _origin(f) == _origin(sent[0])] if sent else []
    assert mine == sent, f"{what}: {len(mine)} flits, expected {len(sent)} in order"


@cocotb.test()
async def link_port_routes_and_pairs(dut):
    args = sim_args()
    rng = random.Random(cocotb.RANDOM_SEED)
    stall = args["stall"]
    await start_clock_and_reset(dut)

    def source(name, k):
        return StreamSource(dut, name, dut.clk, random.Random(rng.getrandbits(32) + k), stall)

    def sink(name, k):
        return StreamSink(dut, name, dut.clk, random.Random(rng.getrandbits(32) + k), stall)

    dut.kernel_running.value = 1
    cfg, cfg_out = source("cfg", 1), sink("cfg_out", 2)
    ends = {name: source(name, k) for k, name in enumerate(("agcu_out", "tile_out",
                                                            "link_rx"), 10)}
    sinks = {name: sink(name, k) for k, name in enumerate(("tile_in", "agcu_in",
                                                          "link_tx"), 20)}
    config = RDUParams(lanes=LANES, flows=FLOWS)
    other = [record_header(0, 3), 11, 12, 13, record_header(4, 1), 14, record_header(2, 0)]
    cfg.send(other[:4] + link_record_words(config, {LINK_FLOW: (0, FAR_FLOW)},
                                           pair=(LOCAL_FLOW, PAIR_FLOW), take=None)
             + other[4:])
    watchdog = Watchdog(dut, dut.clk, [cfg, cfg_out, *ends.values(), *sinks.values()],
                        idle_cycles=300)
    cocotb.start_soon(watchdog.run())
    await cfg_out.wait_for(len(other))
    await cfg.wait_idle()
    assert cfg_out.received == other, "records for the tile must pass unchanged"

    pairs, count = args["pairs"], args["flits"]

    def make(origin, flows):
        return [_flit(origin << (VEC - 8) | k << 32 | rng.getrandbits(32), flow, k & 0xFF,
                      int(k == len(flows) - 1)) for k, flow in enumerate(flows)]

    agcu_flows = [LOCAL_FLOW] * pairs + [rng.choice([LINK_FLOW, AGCU_PLAIN])
                                         for _ in range(count)]
    rng.shuffle(agcu_flows)
    link_flows = [PAIR_FLOW] * pairs + [LINK_PLAIN] * count
    rng.shuffle(link_flows)
    agcu_flits = make(1, agcu_flows)
    tile_flits = make(2, [rng.choice([LINK_FLOW, TILE_PLAIN]) for _ in range(count)])
    link_flits = make(3, link_flows)

    ends["agcu_out"].send(agcu_flits)
    ends["tile_out"].send(tile_flits)
    ends["link_rx"].send([w for k, f in enumerate(link_flits)
                          for w in _recv_words(f, k == len(link_flits) - 1)])
    to_link = [f for f in agcu_flits + tile_flits if _flow(f) == LINK_FLOW]
    to_agcu = [f for f in tile_flits if _flow(f) == TILE_PLAIN]
    to_tile = [f for f in agcu_flits if _flow(f) != LINK_FLOW] + link_flits
    await sinks["tile_in"].wait_for(len(to_tile))
    await sinks["agcu_in"].wait_for(len(to_agcu))
    await sinks["link_tx"].wait_for(len(to_link) * WORDS)
    await ClockCycles(dut.clk, 50)

    assert sinks["agcu_in"].received == to_agcu, "mesh flits for the AGCU"
    tile_in = sinks["tile_in"].received
    assert sorted(tile_in) == sorted(to_tile), "flits into the tile: lost or extra"
    _in_order(tile_in, [f for f in agcu_flits if _flow(f) != LINK_FLOW], "AGCU -> tile")
    _in_order(tile_in, link_flits, "link -> tile")
    paired = [_flow(f) for f in tile_in if _flow(f) in (LOCAL_FLOW, PAIR_FLOW)]
    assert paired == [LOCAL_FLOW, PAIR_FLOW] * pairs, "paired flows must alternate, local first"

    words = sinks["link_tx"].received
    assert len(words) == len(to_link) * WORDS, "link words: lost or extra"
    assert all(w >> WIDTH & 0xF == PEER for w in words), "every word addressed to the peer"
    flits = []
    for k in range(0, len(words), WORDS):
        group = words[k:k + WORDS]
        assert not any(w >> WIDTH + 4 & 1 for w in group[:-1]), "end of message inside a flit"
        flits.append(sum((w & MASK) << (WIDTH * i) for i, w in enumerate(group))
                     & ((1 << FLIT_BITS) - 1))
    assert all(_flow(f) == FAR_FLOW for f in flits), "link flits carry their far flow id"
    renamed = [f & ~(0x3F << VEC) | LINK_FLOW << VEC for f in flits]
    assert sorted(renamed) == sorted(to_link), "link flits: lost, extra or corrupted"
    _in_order(renamed, [f for f in agcu_flits if _flow(f) == LINK_FLOW], "AGCU -> link")
    _in_order(renamed, [f for f in tile_flits if _flow(f) == LINK_FLOW], "mesh -> link")
    assert group[-1] >> WIDTH + 4 & 1, "the stream's last flit ends a message"
    assert not int(dut.link_error.value)
    dut._log.info(f"{len(tile_in)} flits into the tile, {len(to_agcu)} to the AGCU, "
                  f"{len(flits)} to the link ({len(words)} words)")


@cocotb.test()
async def link_port_takes_what_its_program_says(dut):
    """After reset no link flit enters the tile; a program taking ``n`` lets exactly
    ``n`` in (the rest wait in the link, in order), and only while its kernel runs; one
    taking every flit lets the rest in. The counts are the test argument ``groups``."""
    args = sim_args()
    rng = random.Random(cocotb.RANDOM_SEED)
    stall, groups = args["stall"], args["groups"]
    dut.kernel_running.value = 0
    await start_clock_and_reset(dut)
    cfg = StreamSource(dut, "cfg", dut.clk, random.Random(rng.getrandbits(32)), stall)
    link = StreamSource(dut, "link_rx", dut.clk, random.Random(rng.getrandbits(32)), stall)
    tile = StreamSink(dut, "tile_in", dut.clk, random.Random(rng.getrandbits(32)), stall)
    agcu = StreamSource(dut, "agcu_out", dut.clk, random.Random(rng.getrandbits(32)), stall)
    link_tx = StreamSink(dut, "link_tx", dut.clk, random.Random(rng.getrandbits(32)), stall)
    config = RDUParams(lanes=LANES, flows=FLOWS)
    assert len(link_record_words(config, {}, take=3)) == 2, "no route: the short record"
    cfg.send(link_record_words(config, {LINK_FLOW: (0, FAR_FLOW)}))   # a route, takes none
    flits = [_flit(3 << (VEC - 8) | k << 32 | rng.getrandbits(32), LINK_PLAIN, k & 0xFF,
                   int(k == sum(groups) - 1)) for k in range(sum(groups))]
    link.send([w for k, f in enumerate(flits) for w in _recv_words(f, k == len(flits) - 1)])
    takes = [0, *groups[:-1], None]   # after reset: none; then each group; then the rest
    expected = 0
    for take in takes:
        if take != 0:
            cfg.send(link_record_words(config, {}, take=take))
            await cfg.wait_idle()
            await ClockCycles(dut.clk, 50)
            assert len(tile.received) == expected, "a flit entered before the kernel ran"
            dut.kernel_running.value = 1
            expected += len(flits) - expected if take is None else take
            await tile.wait_for(expected)
        await ClockCycles(dut.clk, 100)   # a flit past the count would have entered by now
        assert len(tile.received) == expected, (
            f"program taking {take}: {len(tile.received)} flits entered, expected {expected}")
        dut.kernel_running.value = 0
    assert tile.received == flits, "received flits: lost, extra or out of order"
    # the short records cleared the first record's route: the flow now enters the tile
    mine = _flit(1 << (VEC - 8) | 5, LINK_FLOW, 0, 1)
    agcu.send([mine])
    await tile.wait_for(len(flits) + 1)
    await ClockCycles(dut.clk, 20)
    assert tile.received[-1] == mine and not link_tx.received, "a cleared route still routes"


def _simulate(testcase, run_name, seed, waves, args):
    design = Design("link_port_harness", "hdl.system.link_port_harness:make_link_port_harness",
                    {"lanes": LANES, "flows": FLOWS, "word_width": WIDTH})
    simulate(design, "test_system_link_port", testcase=testcase, run_name=run_name, seed=seed,
             waves=waves, args=args)


@pytest.mark.parametrize("stall", [0.0, 0.5])
def test_link_port_takes_what_its_program_says(stall, seed, run_name, waves):
    _simulate("link_port_takes_what_its_program_says", run_name, seed, waves,
              {"stall": stall, "groups": [5, 1, 30, 7]})


@pytest.mark.parametrize("stall", [0.0, 0.5])
def test_link_port_routes_and_pairs(stall, seed, run_name, waves):
    _simulate("link_port_routes_and_pairs", run_name, seed, waves,
              {"stall": stall, "pairs": 40, "flits": 120})
