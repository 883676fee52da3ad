"""Mesh fabric under random traffic and stalls; the credit checker proven on a broken link.

Every node injects random flits of its own flows (one unicast flow to every
node, itself included, plus multicast flows) while every inject and eject port
stalls at random. A scoreboard per (destination, flow) checks that each flit
arrives exactly once, unchanged (flow, seq, data, last) and in injection order;
a flit at a node that is not a destination of its flow is a misroute. Each run
loads routes, sends, drains, then loads a different set of routes and repeats.
The cocotb coroutines run inside the simulator; the pytest functions follow.
"""

import random

import cocotb
import numpy as np
import pytest
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from hdl.network.routes import route_words, xy_routes
from testbench.bfm.clock_reset import start_clock_and_reset
from testbench.bfm.scoreboard import Scoreboard
from testbench.bfm.sim_io import save_outputs, sim_args, sim_inputs
from testbench.bfm.stream import StreamSink, StreamSource
from testbench.bfm.watchdog import Watchdog
from testbench.golden.network import (
    FlitFormat,
    broadcast_flows,
    expected_deliveries,
    random_flows,
    random_traffic,
)
from testbench.sim.build_cache import Design
from testbench.sim.runner import simulate

SEEDS = [1, 2]


#: both settings of the mesh's switch-to-switch link registers, as pytest ids
# Registered links are the default; the unregistered mesh runs with `make regress`.
LINK_REGISTERS = [pytest.param(True, id="regs"),
                  pytest.param(False, id="noregs", marks=pytest.mark.regress)]


def mesh_design(rows, cols, data_width, flows=64, buffer_depth=2, seq_bits=8,
                link_registers=True) -> Design:
    return Design(f"mesh_{rows}x{cols}", "hdl.network.mesh:make_mesh",
                  {"rows": rows, "cols": cols, "data_width": data_width, "flows": flows,
                   "buffer_depth": buffer_depth, "seq_bits": seq_bits,
                   "link_registers": link_registers})


# --------------------------------------------------------------------------------------------
# cocotb side (runs inside the simulator)
# --------------------------------------------------------------------------------------------

def _phase_flows(raw: dict) -> dict:
    return {int(f): (tuple(src), [tuple(d) for d in dsts]) for f, (src, dsts) in raw.items()}


class _Deliveries:
    """Routes each ejected flit to its (destination, flow) scoreboard; notes misroutes."""

    def __init__(self, fmt: FlitFormat):
        self.fmt = fmt
        self.boards = {}
        self.misrouted = []

    def start_phase(self, expected: dict):
        self.boards = {}
        self.misrouted = []
        for dst, per_flow in expected.items():
            for flow, flits in per_flow.items():
                board = Scoreboard(f"node {dst} flow {flow}", formatter=self.fmt.describe)
                board.expect(flits)
                self.boards[dst, flow] = board

    def receiver(self, node):
        def on_beat(flit):
            board = self.boards.get((node, self.fmt.unpack(flit)[1]))
            if board is None:
                self.misrouted.append((node, flit))
            else:
                board.receive(flit)
        return on_beat

    def check(self):
        problems = [f"misrouted to {node}: {self.fmt.describe(flit)}"
                    for node, flit in self.misrouted[:10]]
        for board in self.boards.values():
            try:
                board.check_done()
            except AssertionError as error:
                problems.append(str(error))
        assert not problems, "\n".join(problems)


def _mesh_run():
    """The run's arguments and inputs, its flit format and the mesh's nodes (row-major)."""
    args = sim_args()
    fmt = FlitFormat(args["data_width"], args["flow_bits"], args["seq_bits"])
    nodes = [(r, c) for r in range(args["rows"]) for c in range(args["cols"])]
    return args, sim_inputs(), fmt, nodes


@cocotb.test()
async def mesh_random_traffic(dut):
    args, data, fmt, nodes = _mesh_run()
    seed = cocotb.RANDOM_SEED
    await start_clock_and_reset(dut)
    deliveries = _Deliveries(fmt)
    cfg = StreamSource(dut, "cfg", dut.clk, random.Random(seed), args["in_stall"])
    sources, sinks = {}, {}
    for k, (r, c) in enumerate(nodes):
        sources[r, c] = StreamSource(dut, f"inject_{r}_{c}", dut.clk,
                                     random.Random(seed * 1000 + 2 * k + 1), args["in_stall"])
        sinks[r, c] = StreamSink(dut, f"eject_{r}_{c}", dut.clk,
                                 random.Random(seed * 1000 + 2 * k + 2), args["out_stall"],
                                 on_beat=deliveries.receiver((r, c)))
    watchdog = Watchdog(dut, dut.clk, [cfg, *sources.values(), *sinks.values()],
                        idle_cycles=1000, max_cycles=args["max_cycles"], unit="mesh")
    cocotb.start_soon(watchdog.run())

    delivered_total = 0
    phase_cycles = []
    for phase, raw_flows in enumerate(args["phases"]):
        flows = _phase_flows(raw_flows)
        traffic = {node: [int(v) for v in data[f"p{phase}_{node[0]}_{node[1]}"]]
                   for node in nodes}
        expected = expected_deliveries(flows, traffic, fmt)
        deliveries.start_phase(expected)
        cfg.send([int(w) for w in data[f"p{phase}_cfg"]])
        await cfg.wait_idle()
        await ClockCycles(dut.clk, 2)
        start = watchdog.cycles
        targets = {node: sinks[node].count + sum(len(f) for f in expected.get(node, {}).values())
                   for node in nodes}
        for node in nodes:
            sources[node].send(traffic[node])
        for node in nodes:
            await sinks[node].wait_for(targets[node])
        phase_cycles.append(watchdog.cycles - start)
        await ClockCycles(dut.clk, 100)  # a duplicate or late flit would show up here
        await ReadOnly()
        deliveries.check()
        phase_total = sum(targets[n] for n in nodes) - delivered_total
        delivered_total += phase_total
        assert int(dut.flits_delivered.value) == delivered_total, (
            f"flits_delivered {int(dut.flits_delivered.value)}, scoreboards {delivered_total}")
        assert int(dut.credit_error.value) == 0, "credit checker fired"
        dut._log.info(f"phase {phase}: {len(flows)} flows, {phase_total} flits delivered in "
                      f"{phase_cycles[-1]} cycles, {len(deliveries.boards)} scoreboards matched")
        await RisingEdge(dut.clk)
    save_outputs(cycles=np.array(phase_cycles), delivered=np.array(delivered_total))


@cocotb.test()
async def mesh_latency(dut):
    """Zero-load latency: one flit at a time, every (source, destination) pair."""
    args, data, fmt, nodes = _mesh_run()
    await start_clock_and_reset(dut)
    cfg = StreamSource(dut, "cfg", dut.clk, random.Random(0))
    sources = {n: StreamSource(dut, f"inject_{n[0]}_{n[1]}", dut.clk, random.Random(0))
               for n in nodes}
    sinks = {n: StreamSink(dut, f"eject_{n[0]}_{n[1]}", dut.clk, random.Random(0)) for n in nodes}
    watchdog = Watchdog(dut, dut.clk, [cfg, *sources.values(), *sinks.values()],
                        idle_cycles=100, max_cycles=20_000, unit="mesh")
    cocotb.start_soon(watchdog.run())
    cfg.send([int(w) for w in data["cfg"]])
    await cfg.wait_idle()
    latencies = []
    for flow, (src, dst) in enumerate((s, d) for s in nodes for d in nodes):
        flit = fmt.pack(flow, flow, 0, 1)
        sources[src].send([flit])
        await sinks[dst].wait_for(sinks[dst].count + 1)
        assert sinks[dst].received[-1] == flit, fmt.describe(sinks[dst].received[-1])
        hops = abs(src[0] - dst[0]) + abs(src[1] - dst[1])
        latency = sinks[dst].last_transfer_cycle - sources[src].last_transfer_cycle
        per_hop = 2 if args["link_registers"] else 1
        assert latency == per_hop * hops + 2, f"{src} -> {dst}: {latency} cycles for {hops} hops"
        latencies.append(latency)
        await ClockCycles(dut.clk, 3)
    assert int(dut.credit_error.value) == 0
    save_outputs(latencies=np.array(latencies))


@cocotb.test()
async def link_checker(dut):
    """A link's credit checker: quiet on the real sender, fires on each injected fault."""
    args = sim_args()
    fault = args["fault"]
    fmt = FlitFormat(args["data_width"])
    seed = cocotb.RANDOM_SEED
    rng = random.Random(seed)
    await start_clock_and_reset(dut)
    await ReadOnly()
    error_after_reset = int(dut.credit_error.value)
    await RisingEdge(dut.clk)
    board = Scoreboard("link", formatter=fmt.describe)
    source = StreamSource(dut, "i", dut.clk, random.Random(seed + 1), 0.3)
    flits = [fmt.pack(rng.getrandbits(fmt.data_width), i % 64, i % 256, int(i % 5 == 4))
             for i in range(args["flits"])]
    if fault != "none":
        # The receiver takes nothing: its buffer fills, so the fault cannot hide. Flits
        # are lost by design here, so the test waits a fixed time instead of draining.
        dut.o__ready.value = 0
        source.send(flits[:8])
        watchdog = Watchdog(dut, dut.clk, [source], idle_cycles=500, max_cycles=5000)
        cocotb.start_soon(watchdog.run())
        await ClockCycles(dut.clk, 200)
    else:
        sink = StreamSink(dut, "o", dut.clk, random.Random(seed + 2), 0.6,
                          on_beat=board.receive)
        watchdog = Watchdog(dut, dut.clk, [source, sink], idle_cycles=200, max_cycles=20000)
        cocotb.start_soon(watchdog.run())
        board.expect(flits)
        source.send(flits)
        await sink.wait_for(len(flits))
        await ClockCycles(dut.clk, 20)
        board.check_done()
    await RisingEdge(dut.clk)
    await ReadOnly()
    error = int(dut.credit_error.value)
    if fault == "none":
        assert error == 0, "the checker fired on a correct link"
        assert board.matched == len(flits), board.summary()
    else:
        assert error == 1, f"the checker missed the {fault} fault"
    assert error_after_reset == 0 or fault == "extra_credit", "credit_error set at reset"
    save_outputs(error=np.array(error))


# --------------------------------------------------------------------------------------------
# pytest side
# --------------------------------------------------------------------------------------------

def _run_mesh(rows, cols, data_width, in_stall, out_stall, per_source, seed, waves, run_name,
              buffer_depth=2, multicasts=4, phases=2, flows_capacity=64, broadcast=False,
              link_registers=True):
    seq_bits = 8
    fmt = FlitFormat(data_width, (flows_capacity - 1).bit_length(), seq_bits)
    assert fmt.width <= 64, "flits cross to the simulator as uint64"
    rng = random.Random(seed)
    inputs, phase_flows = {}, []
    for phase in range(phases):
        flows = (broadcast_flows(rng, rows, cols, flows_capacity) if broadcast
                 else random_flows(rng, rows, cols, flows_capacity, multicasts))
        traffic = random_traffic(rng, flows, per_source, fmt)
        inputs[f"p{phase}_cfg"] = np.array(
            route_words(xy_routes(rows, cols, flows, flows_capacity), rows, cols), dtype=np.uint32)
        for (r, c), flits in traffic.items():
            inputs[f"p{phase}_{r}_{c}"] = np.array(flits, dtype=np.uint64)
        phase_flows.append({str(f): [list(src), [list(d) for d in dsts]]
                            for f, (src, dsts) in flows.items()})
    result = simulate(
        mesh_design(rows, cols, data_width, flows_capacity, buffer_depth, seq_bits,
                    link_registers),
        "test_network_mesh", testcase="mesh_random_traffic", run_name=run_name, seed=seed,
        waves=waves, inputs=inputs,
        args={"rows": rows, "cols": cols, "data_width": data_width, "flow_bits": fmt.flow_bits,
              "seq_bits": seq_bits, "in_stall": in_stall, "out_stall": out_stall,
              "phases": phase_flows, "max_cycles": 200_000})
    return result


MESH_CASES = {  # rows, cols, data width, inject stall, eject stall, flow IDs
    "2x2_nostall": (2, 2, 16, 0.0, 0.0, 64),
    "2x2_stall": (2, 2, 16, 0.5, 0.5, 64),
    "2x3_stall": (2, 3, 32, 0.3, 0.3, 64),
    "2x3_slow_sinks": (2, 3, 32, 0.0, 0.7, 64),
    "3x3_stall": (3, 3, 16, 0.4, 0.4, 128),
}


# The 3 x 3 cases build their own designs; they run with `make regress`.
BIG = pytest.mark.regress


@pytest.mark.parametrize("link_registers", LINK_REGISTERS)
@pytest.mark.parametrize("case", [pytest.param(c, marks=BIG) if c.startswith("3x3") else c
                                  for c in MESH_CASES])
def test_mesh_random_traffic(case, link_registers, seed, waves, run_name):
    rows, cols, width, in_stall, out_stall, flows = MESH_CASES[case]
    result = _run_mesh(rows, cols, width, in_stall, out_stall, per_source=120, seed=seed,
                       waves=waves, run_name=run_name, multicasts=6, flows_capacity=flows,
                       link_registers=link_registers)
    assert int(result.outputs["delivered"]) > 0


@pytest.mark.parametrize("rows,cols,width,flows", [(2, 3, 32, 64),
                                                  pytest.param(3, 3, 16, 128, marks=BIG)])
@pytest.mark.parametrize("link_registers", LINK_REGISTERS)
def test_mesh_broadcast_storm(rows, cols, width, flows, link_registers, seed, waves, run_name):
    """Every node only broadcasts: the multicast trees overlap everywhere, yet all drains."""
    _run_mesh(rows, cols, width, 0.3, 0.3, per_source=60, seed=seed, waves=waves,
              run_name=run_name, broadcast=True, flows_capacity=flows,
              link_registers=link_registers)


@pytest.mark.parametrize("link_registers", LINK_REGISTERS)
@pytest.mark.parametrize("buffer_depth", [1, pytest.param(4, marks=BIG)])
def test_mesh_buffer_depths(buffer_depth, link_registers, seed, waves, run_name):
    _run_mesh(2, 2, 16, 0.4, 0.4, per_source=100, seed=seed, waves=waves, run_name=run_name,
              buffer_depth=buffer_depth, link_registers=link_registers)


@pytest.mark.parametrize("link_registers", LINK_REGISTERS)
def test_mesh_zero_load_latency(link_registers, waves, run_name):
    """A flit takes hops + 2 cycles (2 * hops + 2 with link registers) inject to eject."""
    rows, cols = 2, 3
    nodes = [(r, c) for r in range(rows) for c in range(cols)]
    flows = {f: (s, [d]) for f, (s, d) in enumerate((s, d) for s in nodes for d in nodes)}
    words = route_words(xy_routes(rows, cols, flows), rows, cols)
    result = simulate(mesh_design(rows, cols, 32, link_registers=link_registers),
                      "test_network_mesh", testcase="mesh_latency",
                      run_name=run_name, seed=1, waves=waves,
                      inputs={"cfg": np.array(words, dtype=np.uint32)},
                      args={"rows": rows, "cols": cols, "data_width": 32, "flow_bits": 6,
                            "seq_bits": 8, "link_registers": link_registers})
    assert len(result.outputs["latencies"]) == len(flows)


# Each fault is its own build: the extra-credit one runs with `make regress`.
@pytest.mark.parametrize("fault", ["none", "over_send", pytest.param("extra_credit", marks=BIG)])
def test_credit_checker_fires_on_a_broken_link(fault, waves, run_name):
    design = Design(f"link_{fault}", "hdl.network.link_harness:make_link_harness",
                    {"data_width": 16, "depth": 2, "fault": fault})
    result = simulate(design, "test_network_mesh", testcase="link_checker", run_name=run_name,
                      seed=1, waves=waves, args={"fault": fault, "data_width": 16, "flits": 300})
    assert int(result.outputs["error"]) == (fault != "none")
