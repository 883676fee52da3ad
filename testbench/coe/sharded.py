"""Experts sharded tensor-parallel across the sockets of a multi-socket system.

Only the decoder expert's feed-forward gate and up projections are sharded here: the
part of the layer that splits by columns with no sum across sockets. With ``S``
sockets, an expert's ``w1`` and ``w3`` (``[d, d_ff]``) are split by columns into ``S``
contiguous shards of ``d_ff / S``; socket ``s`` keeps shard ``s`` of every expert in its
own DDR (written at boot), has the same HBM slots as every other socket, and runs the
SwiGLU kernels on its shard with the request's bf16 tokens ``x`` (padded to the trace's
rows): ``silu(x W1[:, s]) * (x W3[:, s])`` is the columns ``s`` of the whole block's
output, so the host concatenates the sockets' outputs and the result is compared bit for
bit with the unsharded golden SwiGLU (:func:`swiglu_output`). The attention, ``w2`` and
the norms are not run on this path (the whole decoder runs on one socket in
:mod:`.machine`).

The plan is :meth:`CoEMachine.plan`'s (same trace, routes, policy, slots), over shard
images: a ``Switch`` is one copy-engine copy DDR -> HBM slot on every socket, all in one
phase (each socket's engine copies its shard at the same time), a ``Run`` one phase of
every socket's kernels on its shard. Routes come from the golden router (the router is
not run on the sockets here) and Program Loads are part of each Run.

Results (:class:`ShardedRun`): per Switch the phase's cycles (until the slowest socket is
done) and every socket's copy-engine cycles; per Run the phase's cycles.
"""

from dataclasses import dataclass

import numpy as np

from hdl.system.config import SystemConfig
from testbench.compiler.compiler import compile_graph
from testbench.compiler.execute import buffer_contents, enqueue_run, stage_buffers
from testbench.compiler.golden import evaluate
from testbench.compiler.layout import unpack
from testbench.compiler.library import kernel_graph
from testbench.system.socket_session import SocketSession
from testbench.system.tiered_session import TieredSystemSession

from .experts import Expert
from .machine import Mismatch, per_request_buffers, weight_image, weight_image_layout
from .plan import Plan, Run, Switch, plan_routed
from .router import Router

__all__ = ["ShardedCoE", "ShardedRun", "swiglu_output"]


def swiglu_output(expert: Expert, x: np.ndarray, lanes: int, pmu_depth: int) -> np.ndarray:
    """Golden ``silu(x @ w1) * (x @ w3)`` (uint32 fp32 bits ``[m, d_ff]``) of ``expert``'s
    feed-forward weights on bf16 ``x`` ``[m, d]``, in the order the compiled ``swiglu``
    kernel computes it on ``lanes`` / ``pmu_depth``."""
    x = np.asarray(x, np.uint16)
    w1, w3 = expert.weights["w1"], expert.weights["w3"]
    graph = kernel_graph("swiglu", m=x.shape[0], k=w1.shape[0], n=w1.shape[1])
    return evaluate(graph, {"x": x, "w1": w1, "w3": w3}, lanes, pmu_depth)["out"]


@dataclass
class ShardedRun:
    """A simulated sharded session: per-step phase cycles, per-Switch engine cycles of
    every socket, and the Runs whose concatenated output differs from the golden model."""

    plan: Plan
    phase_cycles: dict
    engine_cycles: dict
    mismatches: list[Mismatch]

    @property
    def switch_cycles(self) -> int:
        """Cycles of every Switch phase together (copies of all sockets concurrent)."""
        return sum(self.phase_cycles[i] for i in self.engine_cycles)


class ShardedCoE:
    """The CoE session of ``trace`` with every expert split across ``system``'s sockets."""

    def __init__(self, system: SystemConfig, router: Router, experts: dict, trace, *,
                 slots: int):
        self.system, self.router, self.experts, self.trace = system, router, experts, trace
        self.sockets = system.sockets
        self.config = system.socket_rdu(0)
        if any(system.socket_rdu(k) != self.config for k in range(self.sockets)):
            raise ValueError("sharded experts need the same RDU on every socket")
        d, f = next(iter(experts.values())).weights["w1"].shape
        if f % self.sockets:
            raise ValueError(f"f={f} does not split into {self.sockets} equal column shards")
        self.d, self.f, self.shard_f = d, f, f // self.sockets
        self.requests = {request.id: request for request in trace}
        self.compiled = compile_graph(kernel_graph("swiglu", m=trace.tokens, k=d,
                                                   n=self.shard_f), self.config, "unfused")
        self.image = weight_image_layout(self.compiled, self.config)
        self.slots = slots
        self.session = TieredSystemSession(system)
        burst = self.config.copy_burst_bytes
        # Every socket allocates the same things in the same order: the same addresses.
        slot_bases = [self.session.allocate_aligned(k, slots * self.image.nbytes,
                                                    "expert slots", align=burst)
                      for k in range(self.sockets)]
        ddr_bases = [self.session.allocate_aligned(k, len(experts) * self.image.nbytes,
                                                   "experts in DDR", tier="ddr", align=burst)
                     for k in range(self.sockets)]
        assert len(set(slot_bases)) == len(set(ddr_bases)) == 1
        self.slot_base, self.ddr_base = slot_bases[0], ddr_bases[0]
        zero_x = {"x": np.zeros((trace.tokens, d), np.uint16)}
        resident = self._weights_in_slot(0)
        self.buffers = [stage_buffers(self.compiled, SocketSession(self.session, k), zero_x,
                                      resident=resident, what="expert.")
                        for k in range(self.sockets)]
        assert all(b == self.buffers[0] for b in self.buffers)

    def _weights_in_slot(self, slot: int) -> dict:
        address = self.slot_base + slot * self.image.nbytes
        return {name: address + offset for name, offset in self.image.offsets.items()}

    def shard(self, expert: Expert, socket: int) -> dict:
        """Socket ``socket``'s columns of ``expert``'s weights."""
        columns = slice(socket * self.shard_f, (socket + 1) * self.shard_f)
        return {name: np.ascontiguousarray(expert.weights[name][:, columns])
                for name in ("w1", "w3")}

    def plan(self, routes: dict, policy="lru", scheduler=None) -> Plan:
        """The session plan over shard images (the same on every socket)."""
        sizes = {name: self.image.nbytes for name in self.experts}
        return plan_routed(sizes, routes, self.trace, policy, scheduler, self.slots,
                           slot_bytes=self.image.nbytes, hbm_base=self.slot_base,
                           ddr_base=self.ddr_base, d=self.d,
                           run_bytes=(self.trace.tokens * self.d * 2,
                                      self.trace.tokens * self.f * 4),
                           reload_programs=True)

    def _x(self, request_id: int) -> np.ndarray:
        request = self.requests[request_id]
        x = np.zeros((self.trace.tokens, self.d), np.uint16)
        x[:request.m] = request.x
        return x

    def build(self, plan: Plan) -> TieredSystemSession:
        """Boot (every socket's shards into its DDR), then one phase per Switch and Run."""
        session = self.session
        for placement in plan.ddr_layout:
            expert = self.experts[placement.expert]
            for k in range(self.sockets):
                session.write_at(k, placement.address,
                                 weight_image(self.compiled, self.image, self.shard(expert, k)))
        session.barrier("boot")
        for index, step in enumerate(plan.steps):
            if isinstance(step, Switch):
                for k in range(self.sockets):
                    session.copy(k, step.ddr_address, step.hbm_address, step.nbytes,
                                 f"s{index}_{k}")
                session.barrier(f"switch{index}")
            elif isinstance(step, Run):
                addresses = {**self.buffers[0], **self._weights_in_slot(step.slot)}
                x = {"x": self._x(step.request)}
                for k in range(self.sockets):
                    for name in per_request_buffers(self.compiled):
                        session.write_at(k, addresses[name],
                                         buffer_contents(self.compiled, name, x))
                    enqueue_run(self.compiled, SocketSession(session, k), addresses,
                                tag=f"r{index}_{k}_")
                session.barrier(f"run{index}")
        return session

    def collect(self, plan: Plan, result: dict) -> ShardedRun:
        """Phase and engine cycles, and every Run's concatenated output against the golden
        output of the whole expert."""
        def window(name):
            first, last = result[f"{name}_window"]
            return int(last - first)

        (out,) = self.compiled.graph.outputs
        shape = self.compiled.infos[out].shape
        phase_cycles, engine_cycles, mismatches = {}, {}, []
        for index, step in enumerate(plan.steps):
            if isinstance(step, Switch):
                phase_cycles[index] = window(f"switch{index}")
                engine_cycles[index] = [int(result[f"s{index}_{k}"][0])
                                        for k in range(self.sockets)]
            elif isinstance(step, Run):
                phase_cycles[index] = window(f"run{index}")
                got = np.concatenate([unpack(result[f"r{index}_{k}_{out}"], shape,
                                             self.config.lanes) for k in range(self.sockets)],
                                     axis=1)
                want = swiglu_output(self.experts[step.expert], self._x(step.request),
                                     self.config.lanes, self.config.pmu_depth)
                differing = int(np.count_nonzero(got != want))
                if differing:
                    mismatches.append(Mismatch(index, f"run of request {step.request}",
                                               differing, want.size))
        return ShardedRun(plan, phase_cycles, engine_cycles, mismatches)


def run_sharded_session(system: SystemConfig, experts_dir, *, shape, requests: int,
                        trace_seed: int = 1, zipf: float = 1.2, max_tokens: int = 4,
                        slots: int = 2, policy: str = "lru", scheduler: str = "fcfs",
                        window: int = 8, run_name: str = "coe_sharded", seed: int = 1,
                        waves: bool = False, log=print) -> ShardedRun:
    """Load the checkpoints in ``experts_dir``, plan a session of ``requests`` requests
    (routes from the golden router) and simulate it sharded across ``system``'s sockets.
    ``shape`` (a :class:`~testbench.compiler.transformer.DecoderShape`) is what the
    checkpoints must hold."""
    from pathlib import Path

    from .experts import ROUTER_FILE, load_experts, load_router
    from .scheduler import make_scheduler
    from .trace import make_trace

    config = system.socket_rdu(0)
    experts = load_experts(experts_dir, shape)
    router = Router(load_router(Path(experts_dir) / ROUTER_FILE, shape.d_model), experts,
                    lanes=config.lanes, pmu_depth=config.pmu_depth)
    trace = make_trace(router.checkpoint, requests, trace_seed, zipf=zipf,
                       tokens=(1, max_tokens))
    sharded = ShardedCoE(system, router, {e.name: e for e in experts}, trace, slots=slots)
    plan = sharded.plan(router.route_trace(trace), policy, make_scheduler(scheduler, window))
    result = sharded.build(plan).run(run_name=run_name, seed=seed, waves=waves, log=log)
    return sharded.collect(plan, result)
