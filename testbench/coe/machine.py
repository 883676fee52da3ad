"""A CoE session on the simulated RDU: the plan's steps as runtime calls, checked bit-exactly.

The RDU runs with its memory tiers (``memory="tiers"``): HBM at address 0, DDR
above ``DDR_BASE``, the copy engine between them. Layout:

* DDR: every expert's weight image (the weight buffers of the compiled decoder
  graph, the derived rotated weights included, in name order, each beat-aligned, the
  image padded to whole copy-engine bursts), placed at boot (the plan's DDR layout)
  through the memory tiers' backdoor, before the host's cycle count starts: the
  session measures the switches, not how the experts reached DDR.
* HBM: the router's weight buffer (written by the host at boot, resident), ``slots`` expert
  slots of one image each, and one set of scratch buffers per graph (inputs,
  intermediates, outputs), reused by every request: before each Run the host writes
  the request's decode inputs into the expert graph's scratch (its new token ``x``,
  its own K/V cache and the rotary tables, :mod:`.decode_step`), so the K/V cache
  lives in HBM next to the router.

Steps: a ``Switch`` is one copy-engine descriptor DDR -> HBM slot; a
``LoadProgram`` is the Program Load of every kernel of the next Route or Run (each
kernel of a compiled graph carries its own configuration, so the plan is made with
``reload_programs``); a ``Route`` writes the request's padded ``x`` and launches the
router's kernels; a ``Run`` writes the request's decode inputs and launches the expert's
decoder kernels on the weights in its slot. Hardware-orchestrated (the default), a Route
or a Run with its LoadProgram is one schedule: the AGCU loads each kernel's program
(resident in device memory once written) and runs it, and its program-load cycles
(the AGCU's PROGRAM_CYCLES) are the LoadProgram's; software-orchestrated, the host issues
every Program Load and kernel launch itself. Every Route's logits and every output of
every Run (``out``, ``k<h>_new``, ``v<h>_new``) are read back and compared with the
golden model (:meth:`CoEMachine.check`).
"""

from dataclasses import dataclass, replace

import numpy as np

from hdl.rdu.config import RDUParams
from testbench.compiler.compiler import CompiledGraph, compile_graph
from testbench.compiler.execute import buffer_contents
from testbench.compiler.graph import BF16
from testbench.compiler.layout import padded_cols, unpack
from testbench.compiler.transformer import DecoderShape, decoder_graph
from testbench.runtime.host_program import HostProgramResult
from testbench.runtime.host_script import HostScript
from testbench.runtime.memory_map import DeviceMemory, OutOfDeviceMemory

from .decode_step import decode_io_bytes, decode_outputs, next_token_inputs, request_inputs
from .errors import DDRFull, HBMFull
from .experts import Expert, decoder_weights
from .plan import LoadProgram, Plan, Route, Run, Switch, plan_routed
from .progress import RequestLines
from .router import Router

__all__ = ["SWITCH_SOURCES", "ORCHESTRATIONS", "WeightImage", "CoEPrograms", "CoEMachine",
           "Mismatch", "image_layout", "pack_image", "weight_image_layout", "weight_image",
           "per_request_buffers", "expert_image_bytes", "check_ddr_holds"]

#: where a Switch takes the expert from: DDR (copy engine) or host memory (host link)
SWITCH_SOURCES = ("ddr", "host")
#: who sequences a Route's or a Run's kernels: the AGCU (one schedule) or the host
ORCHESTRATIONS = ("hardware", "software")


@dataclass(frozen=True)
class WeightImage:
    """Byte offset of every weight buffer inside an expert's image, and the image size."""

    offsets: dict
    nbytes: int


def image_layout(sizes, beat: int, burst: int) -> WeightImage:
    """An image of the buffers ``sizes`` (``(key, bytes)`` pairs, in image order): each
    beat-aligned, the whole padded to copy-engine bursts of ``burst`` bytes."""
    offsets, cursor = {}, 0
    for key, nbytes in sizes:
        offsets[key] = cursor
        cursor += -(-nbytes // beat) * beat
    return WeightImage(offsets, -(-cursor // burst) * burst)


def pack_image(layout: WeightImage, contents_of) -> np.ndarray:
    """The image (uint32 words, ``layout.nbytes`` bytes) with ``contents_of(key)`` (words)
    at every offset of ``layout``."""
    words = np.zeros(layout.nbytes // 4, np.uint32)
    for key, offset in layout.offsets.items():
        contents = contents_of(key).reshape(-1)
        words[offset // 4:offset // 4 + contents.size] = contents
    return words


def weight_image_layout(compiled: CompiledGraph, config: RDUParams) -> WeightImage:
    """Where each weight buffer of ``compiled`` sits in one image: in name order, each
    beat-aligned, the whole padded to copy-engine bursts."""
    return image_layout([(name, compiled.infos[name].words(config.lanes) * 4)
                         for name in sorted(compiled.weight_buffers)],
                        config.vector_bits // 8, config.copy_burst_bytes)


def weight_image(compiled: CompiledGraph, layout: WeightImage, weights: dict) -> np.ndarray:
    """The image (uint32 words, ``layout.nbytes`` bytes) of ``weights`` (graph inputs)."""
    return pack_image(layout, lambda name: buffer_contents(compiled, name, weights))


def expert_image_bytes(config: RDUParams, shape: DecoderShape) -> int:
    """Bytes of one expert's weight image (what a switch copies and a slot holds) for
    experts of ``shape`` on ``config``: the compiled decoder's weight buffers, rotated
    weights included, each padded to the copy burst."""
    return weight_image_layout(compile_graph(decoder_graph(shape), config, "unfused"),
                               config).nbytes


def _room(memory: DeviceMemory, align: int) -> int:
    """Bytes free in ``memory`` from its next ``align``-aligned address on."""
    return max(memory.base + memory.size - -(-memory.mark() // align) * align, 0)


def check_ddr_holds(count: int, image_bytes: int, free: int) -> None:
    """DDRFull unless ``free`` bytes of the DDR tier hold ``count`` weight images of
    ``image_bytes``."""
    if count * image_bytes > free:
        raise DDRFull(f"{count} experts in DDR need {count} x {image_bytes:,} B = "
                      f"{count * image_bytes:,} B (one weight image each), but the DDR tier "
                      f"holds {free:,} B: at most {free // image_bytes} experts of this "
                      f"shape fit")


def _check_hbm_holds(slots: int, slot_bytes: int, free: int, region_bytes: int,
                     hbm_bytes: int) -> None:
    """HBMFull unless ``free`` bytes of HBM's ``region_bytes`` tensor region hold ``slots``
    slots of ``slot_bytes``."""
    where = (f"{free:,} of the {region_bytes:,} B tensor region of the {hbm_bytes:,}-byte "
             f"HBM are free after the router and the scratch buffers")
    if slot_bytes > free:
        raise HBMFull(f"one expert slot (an expert's weight image, {slot_bytes:,} B) does "
                      f"not fit in HBM: {where}")
    if slots * slot_bytes > free:
        raise HBMFull(f"{slots} HBM slots of {slot_bytes:,} B need {slots * slot_bytes:,} B, "
                      f"but {where}: at most {free // slot_bytes} slots fit")


class CoEPrograms:
    """The router graph compiled for ``tokens`` rows and the experts' decoder graph of
    ``shape`` (``shape.tokens`` cached tokens) on ``config``."""

    def __init__(self, config: RDUParams, router: Router, shape: DecoderShape, tokens: int):
        self.config, self.tokens, self.shape, self.d = config, tokens, shape, router.d
        self.router = compile_graph(router.graph(tokens), config, "unfused")
        self.expert = compile_graph(decoder_graph(shape), config, "unfused")
        self.image = weight_image_layout(self.expert, config)

    def expert_image(self, expert: Expert) -> np.ndarray:
        """The expert's weight image (uint32 words, ``image.nbytes`` bytes)."""
        return weight_image(self.expert, self.image, decoder_weights(expert, self.shape))


@dataclass(frozen=True)
class Mismatch:
    """A result that differs from the golden model: which step, and how many words."""

    step: int
    what: str
    differing: int
    total: int


def per_request_buffers(compiled: CompiledGraph) -> list[str]:
    """Buffers the host rewrites for every request: written from non-weight inputs."""
    return [name for name, info in compiled.infos.items()
            if name not in compiled.weight_buffers and info.fill is None
            and any(source in compiled.graph.inputs and source not in compiled.graph.weights
                    for source in _sources(compiled, name))]


def _sources(compiled: CompiledGraph, name: str) -> list[str]:
    operand = compiled.infos[name].operand
    return [operand[2]] if operand is not None else [name]


def _zero_inputs(graph, names) -> dict:
    """Zero bit patterns of the graph inputs ``names`` (staging before any request)."""
    return {name: np.zeros(graph.tensor(name).shape,
                           np.uint16 if graph.tensor(name).dtype == BF16 else np.uint32)
            for name in names}


class CoEMachine:
    """Builds the session of a plan (:meth:`plan`, then :meth:`build`), and checks it.

    ``shape`` is the experts' decoder shape; its ``tokens`` is every request's K/V cache
    length."""

    def __init__(self, config: RDUParams, router: Router, experts: dict, trace, *,
                 slots: int, shape: DecoderShape):
        if config.memory != "tiers":
            raise ValueError("the CoE machine needs an RDU with memory='tiers' (preset 'coe')")
        self.config, self.router, self.experts, self.trace = config, router, experts, trace
        self.requests = {request.id: request for request in trace}
        d = router.d
        for expert in experts.values():
            if expert.shape != replace(shape, tokens=expert.shape.tokens):
                raise ValueError(f"expert {expert.name} is a {expert.shape}, not the "
                                 f"session's {shape}")
        self.shape = shape
        self.programs = CoEPrograms(config, router, shape, trace.tokens)
        self.script = HostScript(config)
        burst = config.copy_burst_bytes
        router_c = self.programs.router
        zero_x = {"x": np.zeros((trace.tokens, d), np.uint16)}
        self._boot_writes: list = []  # (address, contents): written by build(), after preloads
        self.router_buffers = self._stage(router_c, {**zero_x, "router": router.checkpoint.weights},
                                          "router.", resident=False)
        expert_graph = self.programs.expert.graph
        self.expert_buffers = self._stage(
            self.programs.expert, _zero_inputs(expert_graph, set(expert_graph.inputs)
                                               - expert_graph.weights), "expert.", resident=True)
        self.slot_bytes = self.programs.image.nbytes
        hbm = self.script.tensors
        _check_hbm_holds(slots, self.slot_bytes, _room(hbm, burst), hbm.size,
                         config.memory_bytes)
        check_ddr_holds(len(experts), self.slot_bytes, _room(self.script.ddr, burst))
        self.slot_base = self.script.allocate(slots * self.slot_bytes, "expert slots",
                                               align=burst)
        self.ddr_base = self.script.allocate(len(experts) * self.slot_bytes, "experts in DDR",
                                              tier="ddr", align=burst)
        self.slots = slots
        self.orchestration = "hardware"
        self._load_step_of: dict = {}  # Route/Run step -> the LoadProgram step before it
        self._decoded: dict = {}  # (request, expert, token) -> (inputs, golden outputs)

    def _stage(self, compiled: CompiledGraph, inputs: dict, what: str, resident: bool) -> dict:
        """Allocate every buffer once and keep the contents of those with any (weights,
        fills) for :meth:`build` to write; an expert's weight buffers are left out (they
        live in its slot)."""
        lanes, addresses = self.config.lanes, {}
        for name, info in compiled.infos.items():
            if resident and name in compiled.weight_buffers:
                continue
            contents = buffer_contents(compiled, name, inputs)
            try:
                if contents is None:
                    addresses[name] = self.script.allocate(info.words(lanes) * 4, what + name)
                else:
                    contents = np.ascontiguousarray(contents)
                    addresses[name] = self.script.allocate(contents.nbytes, what + name)
                    self._boot_writes.append((addresses[name], contents))
            except OutOfDeviceMemory as error:
                raise HBMFull(f"the router's and the decoder's buffers do not fit in the "
                              f"{self.script.tensors.size:,} B tensor region of HBM "
                              f"({error})") from None
        return addresses

    # -- planning ---------------------------------------------------------------------------
    def plan(self, routes: dict, policy="lru", scheduler=None) -> Plan:
        """The session plan over this machine's HBM slots and DDR layout."""
        sizes = {name: self.slot_bytes for name in self.experts}
        return plan_routed(sizes, routes, self.trace, policy, scheduler, self.slots,
                           slot_bytes=self.slot_bytes, hbm_base=self.slot_base,
                           ddr_base=self.ddr_base, router_bytes=self.router.checkpoint.nbytes,
                           categories=len(self.router.checkpoint.categories),
                           d=self.programs.d, run_bytes=decode_io_bytes(self.shape),
                           reload_programs=True)

    # -- session ----------------------------------------------------------------------------
    def build(self, plan: Plan, *, switch_from: str = "ddr",
              host_bytes_per_cycle: float | None = None,
              progress_file: str | None = None,
              orchestration: str = "hardware") -> HostScript:
        """Boot (preloads, then host writes), then every step of ``plan`` as session steps;
        once per machine.

        ``switch_from="ddr"``: a Switch is a copy-engine copy DDR -> HBM slot (the experts
        are preloaded into DDR through the backdoor before the host starts). ``"host"``
        (the host-link baseline): a Switch is a host write of the expert's image into its
        slot over the host port, throttled to ``host_bytes_per_cycle``; nothing is
        preloaded into DDR. Either way the router's weights and the scratch buffers' fills
        are host writes at boot. With ``progress_file``, the simulation appends
        ``[k/N] request i: expert e ...`` to it after each request's last Run.
        ``orchestration``: one schedule per Route or Run ("hardware"), or the host's
        Program Loads and launches ("software")."""
        if orchestration not in ORCHESTRATIONS:
            raise ValueError(f"orchestration must be one of {ORCHESTRATIONS}, not "
                             f"{orchestration!r}")
        self.orchestration = orchestration
        if switch_from not in SWITCH_SOURCES:
            raise ValueError(f"switch_from must be one of {SWITCH_SOURCES}, not {switch_from!r}")
        if switch_from == "host" and not (host_bytes_per_cycle or 0) > 0:
            raise ValueError("the host-link baseline needs a positive host_bytes_per_cycle")
        script = self.script
        if script.steps:
            raise ValueError("build() was already called on this CoEMachine; make a new one")
        if switch_from == "ddr":
            for placement in plan.ddr_layout:
                script.preload_at(placement.address,
                                  self.programs.expert_image(self.experts[placement.expert]))
        for address, contents in self._boot_writes:
            script.write_at(address, contents)
        lines = RequestLines(plan, self.requests, switch_from)
        pending_loads = None
        for index, step in enumerate(plan.steps):
            if isinstance(step, LoadProgram):
                pending_loads = index
            elif isinstance(step, Switch):
                if switch_from == "ddr":
                    script.copy(step.ddr_address, step.hbm_address, step.nbytes, f"s{index}")
                else:
                    script.paced_write(step.hbm_address,
                                        self.programs.expert_image(self.experts[step.expert]),
                                        host_bytes_per_cycle, f"s{index}")
            elif isinstance(step, (Route, Run)):
                self._launch(index, step, pending_loads)
                pending_loads = None
            line = lines.after(step)
            if line is not None and progress_file is not None:
                script.progress(progress_file, line)
        return script

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
        inputs = self._inputs(step)
        for name in per_request_buffers(compiled):
            self.script.write_at(addresses[name], buffer_contents(compiled, name, inputs))
        beat = compiled.beat_bytes
        if self.orchestration == "hardware":
            self.script.schedule([(kernel.image, kernel.arguments(addresses, beat))
                                  for kernel in compiled.kernels], f"r{index}")
        else:
            for k, kernel in enumerate(compiled.kernels):
                self.script.load(kernel.image, name=f"p{index}_{k}")
                self.script.launch(kernel.arguments(addresses, beat), f"r{index}_{k}")
        for out in compiled.graph.outputs:
            info = compiled.infos[out]
            self.script.read(f"out{index}_{out}", addresses[out],
                              info.shape[0] * padded_cols(info.shape[1], self.config.lanes))
        self._load_step_of[index] = load_step

    def _inputs(self, step) -> dict:
        """The per-request inputs of a Route (padded ``x``) or a Run (decode inputs of its
        token)."""
        request = self.requests[step.request]
        if isinstance(step, Route):
            return {"x": request.padded_x(self.trace.tokens)}
        return self._decode(step)[0]

    def _decode(self, step: Run) -> tuple[dict, dict]:
        """(inputs, golden outputs) of a Run's decode step; a later token's inputs follow
        from the step before (:func:`~.decode_step.next_token_inputs`)."""
        key = (step.request, step.expert, step.token)
        if key not in self._decoded:
            if step.token == 0:
                inputs = request_inputs(self.requests[step.request], self.shape,
                                        self.trace.seed)
            else:
                before, outputs = self._decode(replace(step, token=step.token - 1))
                inputs = next_token_inputs(before, outputs, self.shape.heads)
            self._decoded[key] = inputs, decode_outputs(
                self.experts[step.expert], inputs, self.shape, self.config.lanes,
                self.config.pmu_depth)
        return self._decoded[key]

    # -- results ----------------------------------------------------------------------------
    def expected(self, step) -> dict:
        """The golden results ``{output: bits}`` of a Route (``logits`` ``[tokens, C]``) or
        a Run (``k<h>_new``, ``v<h>_new`` bf16 ``[1, head_dim]``, ``out`` fp32 ``[1, d]``)."""
        request = self.requests[step.request]
        if isinstance(step, Route):
            (out,) = self.programs.router.graph.outputs
            return {out: self.router.logits(request.x, self.trace.tokens)}
        return self._decode(step)[1]

    def check(self, plan: Plan, result: dict) -> list[Mismatch]:
        """Every Route's logits and every output of every Run against the golden model."""
        mismatches = []
        for index, step in enumerate(plan.steps):
            if not isinstance(step, (Route, Run)):
                continue
            compiled = self.programs.router if isinstance(step, Route) else self.programs.expert
            for out, want in self.expected(step).items():
                got = unpack(result[f"out{index}_{out}"], compiled.infos[out].shape,
                             self.config.lanes)
                if compiled.infos[out].dtype == BF16:
                    got = got.astype(np.uint16)  # bf16 results sit in the low half-word
                differing = int(np.count_nonzero(got != want))
                if differing:
                    token = f" token {step.token}" if getattr(step, "token", 0) else ""
                    mismatches.append(Mismatch(index, f"{type(step).__name__.lower()} of "
                                                      f"request {step.request}{token}: {out}",
                                               differing, want.size))
        return mismatches

    def cycles(self, plan: Plan, result: HostProgramResult) -> dict:
        """``{step index: cycles}``: copies from the copy engine's count; software-orchestrated,
        Program Loads and launches from the host's cycle windows around them;
        hardware-orchestrated, a Route's or Run's schedule window less the AGCU's
        program-load cycles, which are its LoadProgram's."""
        cycles = {}
        for index, step in enumerate(plan.steps):
            if isinstance(step, Switch):
                cycles[index] = int(result[f"s{index}"][0])
            elif isinstance(step, (Route, Run)):
                if self.orchestration == "hardware":
                    schedule = result.launch(f"r{index}")
                    loads = schedule.program
                    cycles[index] = result.cycles(f"r{index}") - loads
                else:
                    kernels = range(len(self._graph_of(step)[0].kernels))
                    cycles[index] = sum(result.cycles(f"r{index}_{k}") for k in kernels)
                    loads = sum(result.cycles(f"p{index}_{k}") for k in kernels)
                load_step = self._load_step_of.get(index)
                if load_step is None:
                    cycles[index] += loads
                else:
                    cycles[load_step] = loads
        for index in range(len(plan.steps)):
            cycles.setdefault(index, 0)
        return cycles
