"""Decoder-layer experts sharded tensor-parallel across the sockets of a multi-socket system.

Every expert is a whole Llama-style decoder layer run as :class:`~testbench.system.
tp_decoder.TPDecoder` runs it: with ``S`` sockets, socket ``s`` holds heads ``h % S ==
s`` (their ``wq``/``wk``/``wv``/``wo`` and the derived ``wq<h>_rot``/``wk<h>_rot``),
the feed-forward shard ``s`` (``w1``/``w3`` columns ``Fs``, ``w2`` rows ``Fs``) and
both norms (replicated). That is socket ``s``'s *shard image* of the expert
(:func:`shard_image_layout`): the weight buffers of its attention graph and of its
feed-forward graph (the AllReduced ``o`` left out), each beat-aligned, in
``(graph, buffer)`` name order, padded to whole copy-engine bursts; every socket's
image has the same size (equal head and column counts), so one plan serves all.

Boot preloads every expert's shard image ``s`` into socket ``s``'s DDR (the same
address on every socket). The plan is :meth:`CoEMachine.plan`'s (same trace, routes,
policy, slots) over shard images: a ``Switch`` is one copy-engine copy DDR -> HBM slot
on every socket, all in one phase (each engine copies its own shard at the same time);
a ``Run`` writes the request's decode inputs (:func:`~.decode_step.request_inputs`:
its new token ``x``, per socket its heads' K/V caches, the rotary tables) into every
socket's scratch buffers and queues TPDecoder's layer (attention, ring AllReduce,
feed-forward, ring AllReduce, residual) on the weights in the slot. With one socket
the AllReduces are left out. Each Route runs the router split by columns: socket ``k``
computes the logits of its contiguous category range ``router_columns[k]``
(:func:`~testbench.system.tp_gemm.split_ranges`) from its columns of the router weights
(written there at boot), every socket at once in one phase, and the host concatenates
the blocks in socket order. A logit's K sum does not depend on the other columns (the
GEMM's K chunks depend on K and ``pmu_depth`` only), so the blocks concatenate to the
unsplit router's logits bit for bit. With more sockets than categories the sockets past
the last category run no router. Hardware-orchestrated (the default), every socket's
layer, AllReduces included, is one AGCU schedule per socket (no host barrier inside
it) whose programs stay resident in device memory; a Run's
program loads on socket 0's AGCU, and a Route's on the slowest-loading socket's, are
the plan's Program Load steps. A request that generates several tokens runs a Run per
token, the next token's inputs following from the layer's outputs
(:func:`~.decode_step.next_token_inputs`).

Checked bit for bit: every Route's concatenated logits against the golden router, and
per Run and socket against :meth:`TPDecoder.golden` ``out`` and every one of its heads'
``k<h>_new``/``v<h>_new``. Results (:class:`ShardedRun`): per Switch the phase's cycles
(until the slowest socket is done) and every socket's copy-engine cycles; per Run the
cycles of the layer (first phase start .. residual end).
"""

from dataclasses import dataclass, replace

import numpy as np

from hdl.system.config import SystemParams
from testbench.compiler import compile_graph
from testbench.compiler.execute import (
    ORCHESTRATIONS,
    buffer_contents,
    collect_run,
    enqueue_run,
    stage_buffers,
)
from testbench.compiler.transformer import DecoderShape
from testbench.runtime.host_program import HostProgramResult
from testbench.system.tiered_script import TieredSystemScript
from testbench.system.tp_decoder import TPDecoder
from testbench.system.tp_gemm import split_ranges

from .decode_step import decode_io_bytes, next_token_inputs, request_inputs
from .experts import Expert, decoder_weights
from .machine import Mismatch, WeightImage, image_layout, pack_image, per_request_buffers
from .plan import LoadProgram, Plan, Route, Run, Switch, plan_routed
from .progress import RequestLines
from .router import Router, load_experts_and_router, router_graph

__all__ = ["ShardedCoE", "ShardedRun", "shard_image_layout", "IMAGE_GRAPHS"]

#: the TPDecoder graphs whose weight buffers a shard image holds (``res`` has none of its own)
IMAGE_GRAPHS = ("attn", "ffn")
#: weight buffers that are AllReduce regions, not expert weights
_REGION_BUFFERS = {"o", "down"}


def shard_image_layout(compiled: dict, lanes: int, beat: int, burst: int) -> WeightImage:
    """Byte offsets ``{(graph, buffer): offset}`` of one socket's shard image of the
    compiled TPDecoder graphs ``compiled`` (``{graph: CompiledGraph}``): every weight
    buffer of :data:`IMAGE_GRAPHS` but the AllReduce regions, beat-aligned, in order;
    the size padded to whole ``burst`` bytes."""
    return image_layout([((graph, name), compiled[graph].infos[name].words(lanes) * 4)
                         for graph in IMAGE_GRAPHS
                         for name in sorted(compiled[graph].weight_buffers - _REGION_BUFFERS)],
                        beat, burst)


@dataclass
class ShardedRun:
    """A simulated sharded session: per-step phase cycles, per-Switch engine cycles of
    every socket, and the Runs' outputs that differ from the golden model."""

    plan: Plan
    phase_cycles: dict
    engine_cycles: dict
    mismatches: list[Mismatch]

    @property
    def switch_cycles(self) -> int:
        """Cycles of every Switch phase together (copies of all sockets concurrent)."""
        return sum(self.phase_cycles[i] for i in self.engine_cycles)


class ShardedCoE:
    """The CoE session of ``trace`` with every decoder expert (of ``shape``, ``shape.tokens``
    cached tokens) split across ``system``'s sockets as :class:`TPDecoder` splits it, and
    the router split by columns: socket ``k`` computes categories ``router_columns[k]``
    with ``router_programs[k]`` (sockets past the last category, if any, compute none)."""

    def __init__(self, system: SystemParams, router: Router, experts: dict, trace, *,
                 slots: int, shape: DecoderShape, profile: str = "fast"):
        self.system, self.router, self.experts, self.trace = system, router, experts, trace
        self.sockets = system.sockets
        self.config = system.socket_rdu(0)
        if any(system.socket_rdu(k) != self.config for k in range(self.sockets)):
            raise ValueError("sharded experts need the same RDU on every socket")
        if shape.d_ff % self.sockets:
            raise ValueError(f"d_ff={shape.d_ff} does not split into {self.sockets} equal "
                             f"column shards")
        for expert in experts.values():
            if expert.shape != replace(shape, tokens=expert.shape.tokens):
                raise ValueError(f"expert {expert.name} is a {expert.shape}, not the "
                                 f"session's {shape}")
        self.shape, self.d = shape, shape.d_model
        self.tp = TPDecoder(system, shape)
        self.requests = {request.id: request for request in trace}
        self._decoded: dict = {}  # (expert, request, token) -> Run inputs
        self._golden: dict = {}  # (expert, request, token) -> TPDecoder.golden
        beat, burst = self.config.vector_bits // 8, self.config.copy_burst_bytes
        images = [shard_image_layout(c, self.config.lanes, beat, burst)
                  for c in self.tp.compiled]
        assert len({i.nbytes for i in images}) == 1, "equal shards make equal images"
        self.images, self.image_bytes = images, images[0].nbytes
        self.slots = slots
        # a session simulates many cycles: by default the optimised build of the system
        # top ("quick" builds in a fraction of the time for short runs; see
        # testbench/sim/build_profile.py; RDU_BUILD_PROFILE overrides either)
        self.script = TieredSystemScript(system, profile=profile)
        # Every socket allocates the same things in the same order: the same addresses.
        slot_bases = [self.script.allocate_aligned(k, slots * self.image_bytes,
                                                    "expert slots", align=burst)
                      for k in range(self.sockets)]
        ddr_bases = [self.script.allocate_aligned(k, len(experts) * self.image_bytes,
                                                   "experts in DDR", tier="ddr", align=burst)
                     for k in range(self.sockets)]
        assert len(set(slot_bases)) == len(set(ddr_bases)) == 1
        self.slot_base, self.ddr_base = slot_bases[0], ddr_bases[0]
        self.regions, self.views = self.tp.allocate_regions(self.script)
        self.staging_activations = request_inputs(next(iter(trace)), shape, trace.seed)
        staging = {**self.staging_activations,
                   **decoder_weights(next(iter(experts.values())), shape)}
        # scratch buffers once; weight buffers are the slot's (slot 0 here, per Run below)
        self.buffers = self.tp.stage(self.views, self.regions, staging,
                                     weights=[self._weights_in_slot(k, 0)
                                              for k in range(self.sockets)])
        # The router on the request's rows padded to the trace's longest, its columns split
        # across the sockets (one category at least each: sockets past the last get none).
        categories = len(router.checkpoint.categories)
        self.router_columns = split_ranges(categories, min(self.sockets, categories),
                                           "categories")
        programs = {}  # columns -> program: the weights are data, equal widths share one
        zero_x = np.zeros((trace.tokens, self.d), np.uint16)
        self.router_programs, self.router_buffers = [], []
        for k, columns in enumerate(self.router_columns):
            if len(columns) not in programs:
                programs[len(columns)] = compile_graph(
                    router_graph(trace.tokens, self.d, len(columns)), self.config, "unfused")
            program = programs[len(columns)]
            weights = router.checkpoint.weights[:, columns.start:columns.stop]
            self.router_programs.append(program)
            self.router_buffers.append(stage_buffers(program, self.views[k],
                                                     {"x": zero_x, "router": weights},
                                                     what="router."))
        self.orchestration = "hardware"

    def _weights_in_slot(self, socket: int, slot: int) -> dict:
        """``{graph: {buffer: address}}`` of socket ``socket``'s weights in slot ``slot``."""
        address = self.slot_base + slot * self.image_bytes
        out = {graph: {} for graph in IMAGE_GRAPHS}
        for (graph, name), offset in self.images[socket].offsets.items():
            out[graph][name] = address + offset
        return out

    def inputs(self, expert: Expert, request_id: int, token: int = 0) -> dict:
        """The single-socket layer's inputs of a Run: the decode inputs of the request's
        token ``token`` and the expert's weights (derived rotated weights included). A
        later token's follow from the layer's outputs on the sockets before it
        (:meth:`TPDecoder.golden`, :func:`~.decode_step.next_token_inputs`)."""
        key = (expert.name, request_id, token)
        if key not in self._decoded:
            if token == 0:
                self._decoded[key] = {
                    **request_inputs(self.requests[request_id], self.shape, self.trace.seed),
                    **decoder_weights(expert, self.shape)}
            else:
                before = self.inputs(expert, request_id, token - 1)
                want = self.golden(expert, request_id, token - 1)
                outputs = {"out": want["res"][0]["out"]}
                for per_socket in want["attn"]:
                    outputs |= {k: v for k, v in per_socket.items() if k != "partial"}
                self._decoded[key] = next_token_inputs(before, outputs, self.shape.heads)
        return self._decoded[key]

    def golden(self, expert: Expert, request_id: int, token: int = 0) -> dict:
        """:meth:`TPDecoder.golden` of that Run (kept: the next token's inputs need it)."""
        key = (expert.name, request_id, token)
        if key not in self._golden:
            self._golden[key] = self.tp.golden(self.inputs(expert, request_id, token))
        return self._golden[key]

    def shard(self, expert: Expert, socket: int) -> dict:
        """Socket ``socket``'s weight inputs of ``expert``: its heads' projections, its
        feed-forward columns / rows and the norms."""
        # socket_inputs slices activations too: any request's stand in (not kept)
        local = self.tp.socket_inputs(socket, {**self.staging_activations,
                                               **decoder_weights(expert, self.shape)})
        weights = set()
        for graph in IMAGE_GRAPHS:
            weights |= self.tp.compiled[socket][graph].graph.weights - _REGION_BUFFERS
        return {name: local[name] for name in sorted(weights)}

    def shard_image(self, expert: Expert, socket: int) -> np.ndarray:
        """Socket ``socket``'s shard image of ``expert`` (uint32 words, ``image_bytes``)."""
        weights, compiled = self.shard(expert, socket), self.tp.compiled[socket]
        return pack_image(self.images[socket], lambda key: buffer_contents(
            compiled[key[0]], key[1], weights))

    def plan(self, routes: dict, policy="lru", scheduler=None) -> Plan:
        """The session plan over shard images (the same on every socket); its bytes are
        socket 0's (its router columns are the widest)."""
        sizes = {name: self.image_bytes for name in self.experts}
        columns = len(self.router_columns[0])
        return plan_routed(sizes, routes, self.trace, policy, scheduler, self.slots,
                           slot_bytes=self.image_bytes, hbm_base=self.slot_base,
                           ddr_base=self.ddr_base, d=self.d,
                           router_bytes=self.d * columns * 2, categories=columns,
                           run_bytes=decode_io_bytes(self.shape), reload_programs=True)

    def build(self, plan: Plan, *, switch_from: str = "ddr",
              host_bytes_per_cycle: float | None = None, progress_file: str | None = None,
              orchestration: str = "hardware") -> TieredSystemScript:
        """Boot (every socket's shard images preloaded into its DDR through the
        backdoor), then per Switch one phase of copies, per Route one phase of every
        socket's router columns and per Run the tensor-parallel layer's phases; once per
        instance.
        ``orchestration``: each socket's layer (AllReduces included) and router as AGCU
        schedules, programs resident ("hardware"), or as host Program Loads and launches
        ("software"). With
        ``progress_file``, socket 0 appends ``[k/N] request i: ...`` to it after each
        request's last Run. Switches come from DDR only (``switch_from="host"`` is refused)."""
        if orchestration not in ORCHESTRATIONS:
            raise ValueError(f"orchestration must be one of {ORCHESTRATIONS}, not "
                             f"{orchestration!r}")
        if switch_from != "ddr":
            raise ValueError("experts sharded across sockets switch from DDR only; the "
                             "host-link baseline runs on one socket")
        script = self.script
        if len(script.phases) > 1:
            raise ValueError("build() was already called on this ShardedCoE; make a new one")
        self.orchestration = self.tp.orchestration = orchestration
        for placement in plan.ddr_layout:
            expert = self.experts[placement.expert]
            for k in range(self.sockets):
                script.preload_at(k, placement.address, self.shard_image(expert, k))
        script.barrier("boot")
        self.run_phases = {}
        lines = RequestLines(plan, self.requests, "ddr")
        for index, step in enumerate(plan.steps):
            if isinstance(step, Switch):
                for k in range(self.sockets):
                    script.copy(k, step.ddr_address, step.hbm_address, step.nbytes,
                                 f"s{index}_{k}")
                script.barrier(f"switch{index}")
            elif isinstance(step, Route):
                self._route(index, step)
            elif isinstance(step, Run):
                inputs = self.inputs(self.experts[step.expert], step.request, step.token)
                addresses = []
                for k in range(self.sockets):
                    local = self.tp.socket_inputs(k, inputs)
                    slot = self._weights_in_slot(k, step.slot)
                    per_socket = {graph: {**buffers, **slot.get(graph, {})}
                                  for graph, buffers in self.buffers[k].items()}
                    for graph, compiled in self.tp.compiled[k].items():
                        for name in per_request_buffers(compiled):
                            script.write_at(k, per_socket[graph][name],
                                             buffer_contents(compiled, name, local))
                    addresses.append(per_socket)
                script.barrier(f"inputs{index}")
                self.run_phases[index] = self.tp.enqueue_layer(
                    script, self.views, addresses, self.regions, prefix=f"r{index}_")
            line = lines.after(step)
            if line is not None and progress_file is not None:
                script.progress(0, progress_file, line)
        return script

    def _route(self, index: int, step: Route) -> None:
        """Every socket's router columns over the request's padded rows, all at once; a
        phase of its own."""
        inputs = {"x": self.requests[step.request].padded_x(self.trace.tokens)}
        for k, (compiled, addresses) in enumerate(zip(self.router_programs,
                                                      self.router_buffers, strict=True)):
            for name in per_request_buffers(compiled):
                self.script.write_at(k, addresses[name], buffer_contents(compiled, name, inputs))
            enqueue_run(compiled, self.views[k], addresses, orchestration=self.orchestration,
                        tag=f"route{index}_s{k}_")
        self.script.barrier(f"route{index}")

    def route_logits(self, result: HostProgramResult, index: int) -> list[np.ndarray]:
        """The logit blocks the Route at step ``index`` read back, one per socket with
        router columns, in socket order (fp32 bits ``[tokens, len(router_columns[k])]``)."""
        blocks = []
        for k, compiled in enumerate(self.router_programs):
            (out,) = compiled.graph.outputs
            blocks.append(collect_run(compiled, result, orchestration=self.orchestration,
                                      tag=f"route{index}_s{k}_").outputs[out])
        return blocks

    def _program_cycles(self, result: HostProgramResult, index: int, step) -> int:
        """Cycles the AGCU spent loading programs in a Route's schedules (the most any
        socket's spent: they load at once) or in a Run's (socket 0's); hardware
        orchestration only, 0 in software, where loads are host steps in the phase."""
        if self.orchestration != "hardware":
            return 0
        if isinstance(step, Route):
            return max(result.launch(f"route{index}_s{k}_schedule").program
                       for k in range(len(self.router_programs)))
        return result.launch(f"r{index}_s0_layer_schedule").program

    def cycles(self, plan: Plan, result: HostProgramResult) -> dict:
        """``{step index: cycles}`` as :meth:`CoEMachine.cycles` gives them: a Switch's
        phase (until the slowest socket's copy is done), a Route's phase and a Run's
        layer (first phase start .. residual end) less the AGCU program-load cycles
        (:meth:`_program_cycles`), which are the LoadProgram step's before them."""
        cycles, pending = {}, None
        for index, step in enumerate(plan.steps):
            if isinstance(step, LoadProgram):
                pending = index
            elif isinstance(step, Switch):
                cycles[index] = result.cycles(f"switch{index}")
            elif isinstance(step, (Route, Run)):
                if isinstance(step, Route):
                    window = result.cycles(f"route{index}")
                else:
                    names = [n for ns in self.run_phases[index].values() for n in ns]
                    window = result.cycles(names[0], names[-1])
                loads = self._program_cycles(result, index, step)
                cycles[index] = window - loads
                if pending is not None:
                    cycles[pending], pending = loads, None
                else:
                    cycles[index] += loads
        for index in range(len(plan.steps)):
            cycles.setdefault(index, 0)
        return cycles

    def link_bytes(self, plan: Plan, result: HostProgramResult) -> dict:
        """What the RDU-to-RDU links carried, every link both ways: ``payload``, the
        AllReduces' data (a ring over n sockets sends 2 (n - 1) / n of each region from
        every socket: 2 (n - 1) regions per AllReduce, two per Run), and ``wire``, the
        channels' flits times the flit width (the payload plus frame headers, CRCs,
        replays and the acknowledgement and credit frames the links send all along)."""
        from hdl.system.system import LINK_STATS

        runs = sum(isinstance(step, Run) for step in plan.steps)
        regions = 4 * sum(self.tp.region_words.values())
        flits = np.asarray(result["links"])[:, :, LINK_STATS.index("ch_flits")]
        wire = sum(int(flits[i].sum()) * self.system.link_params(a, b).width // 8
                   for i, (a, b) in enumerate(self.system.links()))
        return {"payload": runs * 2 * (self.sockets - 1) * regions, "wire": wire}

    def check(self, plan: Plan, result: HostProgramResult) -> list[Mismatch]:
        """Every Route's logits (the sockets' column blocks concatenated) and every Run's
        outputs on every socket against the golden router and :meth:`TPDecoder.golden`."""
        return self.collect(plan, result).mismatches

    def _route_mismatches(self, plan: Plan, result: HostProgramResult) -> list[Mismatch]:
        mismatches = []
        (out,) = self.router_programs[0].graph.outputs
        for index, step in enumerate(plan.steps):
            if not isinstance(step, Route):
                continue
            blocks = self.route_logits(result, index)
            got = np.concatenate(blocks, axis=1)  # the columns cover every category
            want = self.router.logits(self.requests[step.request].x, self.trace.tokens)
            differing = int(np.count_nonzero(got != want))
            if differing:
                sockets = [k for k, (block, columns) in enumerate(zip(
                    blocks, self.router_columns, strict=True))
                    if np.any(block != want[:, columns.start:columns.stop])]
                on = ", ".join(map(str, sockets))
                mismatches.append(Mismatch(index, f"route of request {step.request}: {out} "
                                           f"of socket(s) {on}", differing, want.size))
        return mismatches

    def collect(self, plan: Plan, result: HostProgramResult) -> ShardedRun:
        """Phase and engine cycles, every Route's logits against the golden router and
        every Run's outputs on every socket against :meth:`TPDecoder.golden`."""
        phase_cycles, engine_cycles = {}, {}
        mismatches = self._route_mismatches(plan, result)
        for index, step in enumerate(plan.steps):
            if isinstance(step, Switch):
                phase_cycles[index] = result.cycles(f"switch{index}")
                engine_cycles[index] = [int(result[f"s{index}_{k}"][0])
                                        for k in range(self.sockets)]
            elif isinstance(step, Run):
                phases = self.run_phases[index]
                got = self.tp.collect(result, phases, prefix=f"r{index}_")
                names = [n for ns in phases.values() for n in ns]
                phase_cycles[index] = result.cycles(names[0], names[-1])
                want = self.golden(self.experts[step.expert], step.request, step.token)
                for k in range(self.sockets):
                    checks = {"out": (got.outputs[k], want["res"][k]["out"])}
                    checks |= {name: (value, want["attn"][k][name])
                               for name, value in got.kv[k].items()}
                    for name, (g, w) in checks.items():
                        differing = int(np.count_nonzero(g != w))
                        if differing or g.shape != w.shape:
                            what = (f"run of request {step.request} token {step.token}, "
                                    f"socket {k}: {name}")
                            mismatches.append(Mismatch(index, what, differing, w.size))
        return ShardedRun(plan, phase_cycles, engine_cycles, mismatches)


def run_sharded_session(system: SystemParams, experts_dir, *, shape, requests: int,
                        trace_seed: int = 1, zipf: float = 1.2, max_tokens: int = 4,
                        slots: int = 2, policy: str = "lru", scheduler: str = "fcfs",
                        window: int = 8, run_name: str = "coe_sharded", seed: int = 1,
                        waves: bool = False, log=print, profile: str = "fast") -> ShardedRun:
    """Load the checkpoints in ``experts_dir``, plan a session of ``requests`` requests
    and simulate it sharded across ``system``'s sockets (the router split by columns).
    ``shape`` (a :class:`~testbench.compiler.transformer.DecoderShape`) is what the
    checkpoints must hold; its ``tokens`` is every request's K/V cache length."""
    from .scheduler import make_scheduler
    from .trace import make_trace

    config = system.socket_rdu(0)
    experts, router = load_experts_and_router(experts_dir, shape, lanes=config.lanes,
                                              pmu_depth=config.pmu_depth)
    trace = make_trace(router.checkpoint, requests, trace_seed, zipf=zipf,
                       tokens=(1, max_tokens))
    sharded = ShardedCoE(system, router, {e.name: e for e in experts}, trace, slots=slots,
                         shape=shape, profile=profile)
    plan = sharded.plan(router.route_trace(trace), policy, make_scheduler(scheduler, window))
    result = sharded.build(plan).run(run_name=run_name, seed=seed, waves=waves,
                                     timeout_cycles=400_000, log=log)
    return sharded.collect(plan, result)
