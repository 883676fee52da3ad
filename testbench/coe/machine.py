"""A CoE session on the simulated RDU: the plan's steps as runtime calls, checked bit-exactly.

The RDU runs with its memory tiers (``memory="tiers"``): HBM at address 0, DDR
above ``DDR_BASE``, the copy engine between them. Layout:

* DDR: every expert's weight image (the resident weight buffers of the compiled
  expert graph, ``w1.B`` then ``w3.B``, each beat-aligned, the image padded to
  whole copy-engine bursts), written by the host at boot (the plan's DDR layout).
* HBM: the router's weight buffer (written at boot, resident), ``slots`` expert
  slots of one image each, and one set of scratch buffers per graph (inputs,
  intermediates, outputs), reused by every request.

Steps: a ``Switch`` is one copy-engine descriptor DDR -> HBM slot; a
``LoadProgram`` is the Program Load of every kernel of the next Route or Run (each
kernel of a compiled graph carries its own configuration, so the plan is made with
``reload_programs``); a ``Route`` writes the request's padded ``x`` and launches the
router's kernels; a ``Run`` writes ``x`` and launches the expert's kernels on the
weights in its slot. Every Route's logits and every Run's output are read back and
compared with the golden model (:meth:`CoEMachine.check`).
"""

from dataclasses import dataclass

import numpy as np

from hdl.rdu.config import RDUConfig
from testbench.compiler.compiler import CompiledGraph, compile_graph
from testbench.compiler.execute import buffer_contents
from testbench.compiler.layout import padded_cols, unpack
from testbench.compiler.library import kernel_graph
from testbench.runtime.session import Session

from .experts import Expert, expert_output
from .plan import LoadProgram, Plan, Route, Run, Switch, plan_routed
from .router import Router

__all__ = ["WeightImage", "CoEPrograms", "CoEMachine", "Mismatch"]


@dataclass(frozen=True)
class WeightImage:
    """Byte offset of every weight buffer inside an expert's image, and the image size."""

    offsets: dict
    nbytes: int


class CoEPrograms:
    """The router and expert graphs compiled for ``tokens`` rows on ``config``."""

    def __init__(self, config: RDUConfig, router: Router, d: int, f: int, tokens: int):
        self.config, self.tokens, self.d, self.f = config, tokens, d, f
        self.router = compile_graph(router.graph(tokens), config, "unfused")
        self.expert = compile_graph(kernel_graph("swiglu", m=tokens, k=d, n=f), config,
                                    "unfused")
        self.image = self._image_layout()

    def _image_layout(self) -> WeightImage:
        lanes, beat = self.config.lanes, self.config.vector_bits // 8
        burst = self.config.copy_burst_bytes
        offsets, cursor = {}, 0
        for name in sorted(self.expert.weight_buffers):
            offsets[name] = cursor
            cursor += -(-self.expert.infos[name].words(lanes) * 4 // beat) * beat
        return WeightImage(offsets, -(-cursor // burst) * burst)

    def expert_image(self, expert: Expert) -> np.ndarray:
        """The expert's weight image (uint32 words, ``image.nbytes`` bytes)."""
        words = np.zeros(self.image.nbytes // 4, np.uint32)
        weights = {"w1": expert.w1, "w3": expert.w3}
        for name, offset in self.image.offsets.items():
            contents = buffer_contents(self.expert, name, weights).reshape(-1)
            words[offset // 4:offset // 4 + contents.size] = contents
        return words


@dataclass(frozen=True)
class Mismatch:
    """A result that differs from the golden model: which step, and how many words."""

    step: int
    what: str
    differing: int
    total: int


def _per_request_buffers(compiled: CompiledGraph) -> list[str]:
    """Buffers the host rewrites for every request: written from non-weight inputs."""
    return [name for name, info in compiled.infos.items()
            if name not in compiled.weight_buffers and info.fill is None
            and any(source in compiled.graph.inputs and source not in compiled.graph.weights
                    for source in _sources(compiled, name))]


def _sources(compiled: CompiledGraph, name: str) -> list[str]:
    operand = compiled.infos[name].operand
    return [operand[2]] if operand is not None else [name]


class CoEMachine:
    """Builds the session of a plan (:meth:`plan`, then :meth:`build`), and checks it."""

    def __init__(self, config: RDUConfig, router: Router, experts: dict, trace, *,
                 slots: int):
        if config.memory != "tiers":
            raise ValueError("the CoE machine needs an RDU with memory='tiers' (preset 'coe')")
        self.config, self.router, self.experts, self.trace = config, router, experts, trace
        self.requests = {request.id: request for request in trace}
        d, f = next(iter(experts.values())).w1.shape
        self.programs = CoEPrograms(config, router, d, f, trace.tokens)
        self.session = Session(config)
        burst = config.copy_burst_bytes
        router_c = self.programs.router
        zero_x = {"x": np.zeros((trace.tokens, d), np.uint16)}
        self.router_buffers = self._stage(router_c, {**zero_x, "router": router.checkpoint.weights},
                                          "router.", resident=False)
        self.expert_buffers = self._stage(self.programs.expert, zero_x, "expert.", resident=True)
        self.slot_bytes = self.programs.image.nbytes
        self.slot_base = self.session.allocate(slots * self.slot_bytes, "expert slots",
                                               align=burst)
        self.ddr_base = self.session.allocate(len(experts) * self.slot_bytes, "experts in DDR",
                                              tier="ddr", align=burst)
        self.slots = slots
        self._load_step_of: dict = {}  # Route/Run step -> the LoadProgram step before it

    def _stage(self, compiled: CompiledGraph, inputs: dict, what: str, resident: bool) -> dict:
        """Write (weights, fills) or allocate every buffer once; an expert's weight buffers
        are left out (they live in its slot)."""
        lanes, addresses = self.config.lanes, {}
        for name, info in compiled.infos.items():
            if resident and name in compiled.weight_buffers:
                continue
            contents = buffer_contents(compiled, name, inputs)
            if contents is None:
                addresses[name] = self.session.allocate(info.words(lanes) * 4, what + name)
            else:
                addresses[name] = self.session.write(contents, what + name)
        return addresses

    # -- planning ---------------------------------------------------------------------------
    def plan(self, routes: dict, policy="lru", scheduler=None) -> Plan:
        """The session plan over this machine's HBM slots and DDR layout."""
        sizes = {name: self.slot_bytes for name in self.experts}
        return plan_routed(sizes, routes, self.trace, policy, scheduler, self.slots,
                           slot_bytes=self.slot_bytes, hbm_base=self.slot_base,
                           ddr_base=self.ddr_base, router_bytes=self.router.checkpoint.nbytes,
                           categories=len(self.router.checkpoint.categories),
                           d=self.programs.d, f=self.programs.f, reload_programs=True)

    # -- session ----------------------------------------------------------------------------
    def build(self, plan: Plan) -> Session:
        """Boot writes, then every step of ``plan`` as session steps."""
        session = self.session
        for placement in plan.ddr_layout:
            session.write_at(placement.address,
                             self.programs.expert_image(self.experts[placement.expert]))
        pending_loads = None
        for index, step in enumerate(plan.steps):
            if isinstance(step, LoadProgram):
                pending_loads = index
            elif isinstance(step, Switch):
                session.copy(step.ddr_address, step.hbm_address, step.nbytes, f"s{index}")
            elif isinstance(step, (Route, Run)):
                self._launch(index, step, pending_loads)
                pending_loads = None
        return session

    def _graph_of(self, step):
        if isinstance(step, Route):
            return self.programs.router, self.router_buffers
        offsets = self.programs.image.offsets
        slot_address = self.slot_base + step.slot * self.slot_bytes
        return self.programs.expert, {**self.expert_buffers,
                                      **{name: slot_address + offset
                                         for name, offset in offsets.items()}}

    def _launch(self, index: int, step, load_step: int | None) -> None:
        compiled, addresses = self._graph_of(step)
        request = self.requests[step.request]
        x = np.zeros((self.trace.tokens, self.programs.d), np.uint16)
        x[:request.m] = request.x
        for name in _per_request_buffers(compiled):
            self.session.write_at(addresses[name], buffer_contents(compiled, name, {"x": x}))
        beat = compiled.beat_bytes
        for k, kernel in enumerate(compiled.kernels):
            self.session.load(kernel.image, name=f"p{index}_{k}")
            self.session.launch(kernel.arguments(addresses, beat), f"r{index}_{k}")
        (out,) = compiled.graph.outputs
        info = compiled.infos[out]
        self.session.read(f"out{index}", addresses[out],
                          info.shape[0] * padded_cols(info.shape[1], self.config.lanes))
        self._load_step_of[index] = load_step

    # -- results ----------------------------------------------------------------------------
    def expected(self, step) -> np.ndarray:
        """The golden result of a Route (logits ``[tokens, C]``) or Run (``[tokens, f]``)."""
        request = self.requests[step.request]
        if isinstance(step, Route):
            return self.router.logits(request.x, self.trace.tokens)
        x = np.zeros((self.trace.tokens, self.programs.d), np.uint16)
        x[:request.m] = request.x
        expert = self.experts[step.expert]
        return expert_output(expert, x, self.config.lanes, self.config.pmu_depth)

    def check(self, plan: Plan, result: dict) -> list[Mismatch]:
        """Every Route's logits and Run's output against the golden model."""
        mismatches = []
        for index, step in enumerate(plan.steps):
            if not isinstance(step, (Route, Run)):
                continue
            compiled = self.programs.router if isinstance(step, Route) else self.programs.expert
            (out,) = compiled.graph.outputs
            got = unpack(result[f"out{index}"], compiled.infos[out].shape, self.config.lanes)
            want = self.expected(step)
            differing = int(np.count_nonzero(got != want))
            if differing:
                mismatches.append(Mismatch(index, f"{type(step).__name__.lower()} of request "
                                                  f"{step.request}", differing, want.size))
        return mismatches

    def cycles(self, plan: Plan, result: dict) -> dict:
        """``{step index: cycles}``: copies from the copy engine's count, Program Loads and
        launches from the host's cycle windows around them."""
        def window(name):
            first, last = result[f"{name}_window"]
            return int(last - first)

        cycles = {}
        for index, step in enumerate(plan.steps):
            if isinstance(step, Switch):
                cycles[index] = int(result[f"s{index}"][0])
            elif isinstance(step, (Route, Run)):
                compiled = self._graph_of(step)[0]
                kernels = range(len(compiled.kernels))
                cycles[index] = sum(window(f"r{index}_{k}") for k in kernels)
                loads = sum(window(f"p{index}_{k}") for k in kernels)
                load_step = self._load_step_of.get(index)
                if load_step is None:
                    cycles[index] += loads
                else:
                    cycles[load_step] = loads
        for index in range(len(plan.steps)):
            cycles.setdefault(index, 0)
        return cycles
