"""Tensor-parallel decoder layer across the sockets of a ring (Megatron-style split).

The layer is the one of testbench/compiler/transformer.py (:func:`decoder_layer`,
decode of one token, ``heads`` heads of width ``dh``, model width ``D``, feed-forward
width ``F``); with ``S`` sockets:

* Heads: socket ``s`` runs heads ``h`` with ``h % S == s`` (``heads`` a multiple of
  ``S``), each with its own ``wq``/``wk``/``wv``/``wo`` and K/V cache.
* Feed-forward: ``F`` cut into ``S`` contiguous column ranges ``Fs``
  (:func:`~.tp_gemm.split_ranges`); socket ``s`` holds ``w1[:, Fs]``, ``w3[:, Fs]`` and
  the matching rows ``w2[Fs, :]``.

Per socket, three graphs compiled by the kernel compiler (every step one graph op,
so :func:`testbench.compiler.evaluate` is their golden model):

1. attention (:func:`attention_shard_graph`): ``xn = bf16(rmsnorm(x, attn_norm))``;
   for each of its heads (increasing ``h``) the single-socket layer's head: rotary
   ``q``, ``k``, ``v``, outputs ``k<h>_new``, ``v<h>_new``, ``o_h = bf16(att_h) @ wo_h``;
   output ``partial = ((o_a + o_b) + ...)`` (fp32 ``[1, D]``, its heads in order).
2. ring AllReduce of the ``partial`` buffers -> ``o`` on every socket.
3. feed-forward (:func:`ffn_shard_graph`): ``h1 = x + o``;
   ``hn = bf16(rmsnorm(h1, ffn_norm))``;
   ``down = bf16(silu(hn @ w1[:, Fs]) * (hn @ w3[:, Fs])) @ w2[Fs, :]`` (fp32 ``[1, D]``).
4. ring AllReduce of the ``down`` buffers.
5. residual (:func:`residual_graph`): ``out = (x + o) + down`` (``x + o`` recomputed:
   the same op on the same operands, so bit for bit phase 3's ``h1``).

The AllReduced buffers are never copied: each socket reserves two AllReduce regions;
the attention graph's ``partial`` and the feed-forward graph's ``down`` are written
straight into them (:class:`~.socket_session.SocketScript` ``placed``), and the
later graphs read them in place (their ``o`` and ``down`` inputs are marked weights,
so :func:`~testbench.compiler.stage_buffers` accepts them as ``resident``). The
regions hold the compiler's standard layout of a ``[1, D]`` fp32 tensor (row 0 at
words ``0 .. D-1``; slack rows up to the largest buffer any of the graphs uses,
rounded up to ``S`` equal AllReduce chunks of whole vectors). ``D`` must be a
multiple of the lanes: an input buffer's padding columns must hold what the
compiler expects, which the sum of two partials' padding is not known to.

Reduction order (what :meth:`TPDecoder.golden` repeats bit for bit). The AllReduce
(testbench/system/allreduce.py) sums element ``j`` of row 0, which lies in chunk
``c = j // (chunk words)``, as ``(...((P_{c+1} + P_{c+2}) + ...) + P_c)`` (socket
indices mod ``S``). So

* ``o[j] = AR_c(partial_0 .. partial_{S-1})`` with ``partial_s`` socket ``s``'s heads
  summed in increasing order; the single-socket layer sums
  ``((o_0 + o_1) + o_2) + ...`` over all heads instead;
* ``down[j] = AR_c(down_0 .. down_{S-1})`` with ``down_s`` the GEMM over its ``F/S``
  columns (systolic order from +0.0, :func:`testbench.compiler.golden.gemm`); the
  single-socket layer's GEMM sums all ``F`` products in one K order.

So ``out`` may differ from the single-socket layer's ``evaluate`` in the last bits
(with one head per socket and ``S == 2`` the attention sums agree, a two-term sum
commuting; whether the ``down`` sums agree depends on how the GEMM's systolic order
groups the ``F`` products). The K/V entries do not depend on the split: they are
the single-socket layer's bit for bit.

Software orchestration: HostScript phases (each with a ``window(name)`` in the result):
``stage`` (every graph's buffers written), ``attention``, the first AllReduce's (``ar1_`` +
:func:`enqueue_allreduce` names), ``ffn``, the second's (``ar2_``), ``residual``. Each
graph's kernels are host-launched one by one.
Hardware orchestration: phases ``stage`` and ``layer``: every socket runs the whole layer
as one AGCU schedule (launch ``s<k>_layer_schedule``): its attention kernels, its part
of the first AllReduce (:func:`~.allreduce.allreduce_entries`), the feed-forward
kernels, the second AllReduce, the residual; no host barrier inside the layer (the
link ports' flit counts order the sockets' AllReduce steps).
Either way every socket's graph outputs are read back under ``s<k>_<graph>_<output>``
(``<graph>`` one of :data:`GRAPHS`).

The steps of :meth:`TPDecoder.script` are public for scripts that run the layer more
than once or on weights already in device memory (testbench/coe/sharded.py):
:meth:`~TPDecoder.allocate_regions`, :meth:`~TPDecoder.stage` (``weights``: resident
weight buffers) and :meth:`~TPDecoder.enqueue_layer` (``prefix`` before every phase and
output name). On one socket the AllReduces are left out (each partial is the sum).
"""

from dataclasses import dataclass

import numpy as np

from hdl.system.config import SystemParams
from testbench.compiler import (
    BF16,
    CompiledGraph,
    Graph,
    collect_run,
    compile_graph,
    enqueue_run,
    evaluate,
    stage_buffers,
)
from testbench.compiler.execute import ORCHESTRATIONS, collect_outputs, read_outputs
from testbench.compiler.library import rmsnorm
from testbench.compiler.transformer import DecoderShape, attention_head

from .allreduce import allreduce_entries, allreduce_golden, enqueue_allreduce
from .link_program import linked_image
from .script import SystemScript
from .socket_script import SocketScript
from .tp_gemm import split_ranges

__all__ = ["TPDecoder", "TPDecoderResult", "attention_shard_graph", "ffn_shard_graph",
           "residual_graph", "socket_heads", "GRAPHS"]

GRAPHS = ("attn", "ffn", "res")  # the per-socket graphs, in run order (output tags)


def socket_heads(heads: int, sockets: int, socket: int) -> list[int]:
    """The heads socket ``socket`` runs: ``h % sockets == socket``, increasing."""
    return [h for h in range(heads) if h % sockets == socket]


def attention_shard_graph(shape: DecoderShape, heads: list[int]) -> Graph:
    """Phase 1 on one socket: rmsnorm, attention of ``heads``, ``partial = sum_h o_h``.

    Inputs named as in :func:`~testbench.compiler.transformer.decoder_graph` (``x``,
    ``attn_norm``, ``cos``, ``sin``, ``wq<h>[_rot]``, ``wk<h>[_rot]``, ``wv<h>``,
    ``wo<h>``, ``k_cache<h>``, ``v_cache<h>``); outputs ``k<h>_new``, ``v<h>_new`` per
    head, then ``partial`` (fp32 ``[1, d_model]``)."""
    if not heads:
        raise ValueError("an attention shard needs at least one head")
    d, dh = shape.d_model, shape.head_dim
    g = Graph()

    def weight(name, dims, dtype=BF16):
        return g.input(name, dims, dtype, weight=True)

    x = g.input("x", (1, d))
    xn = g.to_bf16(rmsnorm(g, x, weight("attn_norm", (1, d), "fp32"), "attn.norm"), "attn.xn")
    cos, sin = g.input("cos", (1, dh)), g.input("sin", (1, dh))
    terms = []
    for h in heads:  # one head: its output projection is the partial itself
        terms.append(attention_head(g, xn, h, cos, sin, shape,
                                    "partial" if len(heads) == 1 else f"h{h}.o"))
    acc = terms[0]
    for i, term in enumerate(terms[1:], 1):
        acc = g.add(acc, term, "partial" if i == len(terms) - 1 else f"attn.o{i}")
    g.output(acc)
    return g


def ffn_shard_graph(shape: DecoderShape, columns: int) -> Graph:
    """Phase 3 on one socket: ``h1 = x + o``, rmsnorm, SwiGLU over ``columns`` of ``F``,
    ``down`` = its partial down-projection (fp32 ``[1, d_model]``). Inputs ``x``, ``o``
    (device-resident: the first AllReduce's result), ``ffn_norm``, ``w1``, ``w3``
    (``[d_model, columns]``), ``w2`` (``[columns, d_model]``)."""
    d = shape.d_model
    g = Graph()
    h1 = g.add(g.input("x", (1, d)), g.input("o", (1, d), weight=True), "h1")
    hn = g.to_bf16(rmsnorm(g, h1, g.input("ffn_norm", (1, d), weight=True), "ffn.norm"),
                   "ffn.hn")
    gate = g.silu(g.gemm(hn, g.input("w1", (d, columns), BF16, weight=True), "ffn.h1"),
                  "ffn.gate")
    up = g.gemm(hn, g.input("w3", (d, columns), BF16, weight=True), "ffn.h3")
    ff = g.to_bf16(g.mul(gate, up, "ffn.act"), "ffn.act_b")
    g.output(g.gemm(ff, g.input("w2", (columns, d), BF16, weight=True), "down"))
    return g


def residual_graph(shape: DecoderShape) -> Graph:
    """Phase 5: ``out = (x + o) + down``; ``o`` and ``down`` device-resident."""
    d = shape.d_model
    g = Graph()
    h1 = g.add(g.input("x", (1, d)), g.input("o", (1, d), weight=True), "h1")
    g.output(g.add(h1, g.input("down", (1, d), weight=True), "out"))
    return g


@dataclass
class TPDecoderResult:
    """What one tensor-parallel decoder layer produced, per socket (uint32 binary32 bits,
    uint16 for the bf16 K/V entries)."""

    outputs: list           # socket s's out [1, d_model]
    partials: list          # socket s's attention partial [1, d_model] (before AllReduce 1;
    #                         hardware: read after the layer, so the AllReduced o)
    downs: list             # socket s's down-projection partial [1, d_model] (hardware: the
    #                         AllReduced down)
    kv: list                # socket s's {"k<h>_new": ..., "v<h>_new": ...} of its heads
    phase_cycles: dict      # phase -> cycles (window of every socket): attention, allreduce1,
    #                         ffn, allreduce2, residual (software); layer (hardware)
    socket_cycles: list     # socket s's {graph: host cycles first launch .. last kernel end}
    #                         (software); {"layer": its schedule's host cycles} (hardware)
    launches: list          # socket s's {graph: kernel launches}


class TPDecoder:
    """One decode step of a decoder layer on the sockets of ``system``, heads and
    feed-forward columns split (module docstring); compiled on construction."""

    def __init__(self, system: SystemParams, shape: DecoderShape, mode: str = "unfused",
                 orchestration: str = "software"):
        """``orchestration``: each socket's graph as host launches ("software") or as one
        AGCU schedule with its programs resident in device memory ("hardware")."""
        if orchestration not in ORCHESTRATIONS:
            raise ValueError(f"orchestration must be one of {ORCHESTRATIONS}, "
                             f"not {orchestration!r}")
        self.orchestration = orchestration
        self._linked: dict = {}   # socket -> its kernels' linked images (hardware layer)
        n = system.sockets
        if shape.heads % n:
            raise ValueError(f"{shape.heads} heads cannot be split evenly over {n} sockets")
        self.lanes = system.socket_rdu(0).lanes
        if shape.d_model % self.lanes:
            raise ValueError(f"d_model = {shape.d_model} is not a multiple of the "
                             f"{self.lanes} lanes: the AllReduced buffers would have "
                             f"padding columns of unknown content")
        self.system, self.shape = system, shape
        self.heads = [socket_heads(shape.heads, n, s) for s in range(n)]
        self.ff_ranges = split_ranges(shape.d_ff, n, "d_ff")
        self.compiled: list[dict[str, CompiledGraph]] = []
        for s in range(n):
            rdu = system.socket_rdu(s)
            graphs = {"attn": attention_shard_graph(shape, self.heads[s]),
                      "ffn": ffn_shard_graph(shape, len(self.ff_ranges[s])),
                      "res": residual_graph(shape)}
            self.compiled.append({k: compile_graph(g, rdu, mode) for k, g in graphs.items()})
        quantum = n * self.lanes  # whole vectors, n equal chunks
        self.region_words = {}
        for region, users in (("o", (("attn", "partial"), ("ffn", "o"), ("res", "o"))),
                              ("down", (("ffn", "down"), ("res", "down")))):
            words = max(c[graph].infos[buf].words(self.lanes)
                        for c in self.compiled for graph, buf in users)
            self.region_words[region] = -(-words // quantum) * quantum
        self.phases: dict[str, list[str]] = {}

    def socket_inputs(self, socket: int, inputs: dict) -> dict:
        """Socket ``socket``'s slice of the single-socket layer's ``inputs`` (after
        :func:`~testbench.compiler.transformer.derived_inputs`), for its attention and
        feed-forward graphs (``o``/``down`` not included)."""
        r = self.ff_ranges[socket]
        names = set(self.compiled[socket]["attn"].graph.inputs) | {"ffn_norm"}
        out = {name: inputs[name] for name in names}
        out["w1"] = np.ascontiguousarray(inputs["w1"][:, r.start:r.stop])
        out["w3"] = np.ascontiguousarray(inputs["w3"][:, r.start:r.stop])
        out["w2"] = np.ascontiguousarray(inputs["w2"][r.start:r.stop, :])
        return out

    def script(self, inputs: dict) -> SystemScript:
        """A script running the whole layer on the single-socket layer's ``inputs``."""
        script = SystemScript(self.system)
        regions, views = self.allocate_regions(script)
        addresses = self.stage(views, regions, inputs)
        script.barrier("stage")
        self.phases = self.enqueue_layer(script, views, addresses, regions)
        return script

    def allocate_regions(self, script: SystemScript) -> tuple[dict, list[SocketScript]]:
        """Reserve every socket's two AllReduce regions in ``script``; return
        ``({"o": [address per socket], "down": [...]}, per-socket views placing the
        attention ``partial`` and the feed-forward ``down`` in them)."""
        n = self.system.sockets
        regions = {name: [script.allocate(s, words * 4, f"ar_{name}") for s in range(n)]
                   for name, words in self.region_words.items()}
        views = [SocketScript(script, s, placed={
            "attn.partial": (regions["o"][s], self.region_words["o"] * 4),
            "ffn.down": (regions["down"][s], self.region_words["down"] * 4)}) for s in range(n)]
        return regions, views

    def stage(self, views: list, regions: dict, inputs: dict,
              weights: list | None = None) -> list[dict]:
        """Write or allocate every socket's buffers of every graph; return per socket
        ``{graph: {buffer: address}}``. ``weights``: per socket ``{graph: {buffer:
        address}}`` of weight buffers already in device memory (not written; ``inputs``
        still needs every input, as :meth:`socket_inputs` slices them)."""
        resident = {"attn": {}, "ffn": {"o": "o"}, "res": {"o": "o", "down": "down"}}
        addresses = []
        for s, view in enumerate(views):
            local = self.socket_inputs(s, inputs)
            addresses.append({
                graph: stage_buffers(compiled, view, local, what=f"{graph}.", resident={
                    **{buf: regions[region][s] for buf, region in resident[graph].items()},
                    **(weights[s].get(graph, {}) if weights else {})})
                for graph, compiled in self.compiled[s].items()})
        return addresses

    def enqueue_layer(self, script: SystemScript, views: list, addresses: list,
                      regions: dict, prefix: str = "") -> dict:
        """Queue the layer's phases (attention, AllReduce, feed-forward, AllReduce,
        residual) on ``script``, every phase and output name prefixed with ``prefix``;
        return ``{phase: [names of its windows]}`` for :meth:`collect`. With one socket
        the AllReduces are left out (the partials are the sums). Hardware-orchestrated,
        the layer is one schedule per socket and one phase, ``layer``."""
        if self.orchestration == "hardware":
            return self._enqueue_scheduled_layer(script, addresses, regions, prefix)
        n, phases = self.system.sockets, {}
        phases["attention"] = self._run_graph(script, views, addresses, "attn", "attention",
                                              prefix)
        if n > 1:
            phases["allreduce1"] = enqueue_allreduce(
                script, regions["o"], self._chunk_vectors("o"), f"{prefix}ar1_")
        phases["ffn"] = self._run_graph(script, views, addresses, "ffn", "ffn", prefix)
        if n > 1:
            phases["allreduce2"] = enqueue_allreduce(
                script, regions["down"], self._chunk_vectors("down"), f"{prefix}ar2_")
        phases["residual"] = self._run_graph(script, views, addresses, "res", "residual",
                                             prefix)
        return phases

    def _chunk_vectors(self, region: str) -> int:
        """Vectors per AllReduce chunk of ``region`` (``S`` equal chunks)."""
        return self.region_words[region] // self.system.sockets // self.lanes

    def _linked_images(self, socket: int) -> dict:
        """``{graph: [image with its (empty) link record, per kernel]}``, built once."""
        if socket not in self._linked:
            self._linked[socket] = {
                graph: [linked_image(self.system, socket, k.image) for k in compiled.kernels]
                for graph, compiled in self.compiled[socket].items()}
        return self._linked[socket]

    def _enqueue_scheduled_layer(self, script, addresses, regions, prefix):
        n, system = self.system.sockets, self.system
        for s in range(n):
            entries, images = [], self._linked_images(s)
            for graph in GRAPHS:
                compiled = self.compiled[s][graph]
                entries += [(image, k.arguments(addresses[s][graph], compiled.beat_bytes))
                            for image, k in zip(images[graph], compiled.kernels, strict=True)]
                region = {"attn": "o", "ffn": "down"}.get(graph)
                if region is not None and n > 1:
                    entries += allreduce_entries(system, s, regions[region],
                                                 self._chunk_vectors(region))
            script.counters(s, f"{prefix}s{s}_layer_counters_before")
            script.schedule(s, entries, f"{prefix}s{s}_layer_schedule")
            script.counters(s, f"{prefix}s{s}_layer_counters_after")
            view = SocketScript(script, s)
            for graph in GRAPHS:
                read_outputs(self.compiled[s][graph], view, addresses[s][graph],
                             f"{prefix}s{s}_{graph}_")
        script.barrier(prefix + "layer")
        return {"layer": [prefix + "layer"]}

    def _run_graph(self, script, views, addresses, graph, phase, prefix=""):
        for s, view in enumerate(views):
            enqueue_run(self.compiled[s][graph], view, addresses[s][graph],
                        orchestration=self.orchestration, tag=f"{prefix}s{s}_{graph}_")
        script.barrier(prefix + phase)
        return [prefix + phase]

    def golden(self, inputs: dict) -> dict:
        """Per socket, every graph's outputs in the documented order:
        ``{"attn": [..], "ffn": [..], "res": [..], "o": o, "down": down}`` (``o``, ``down``
        the AllReduced uint32 ``[1, d_model]``)."""
        n, d = self.system.sockets, self.shape.d_model
        rdu = self.system.socket_rdu(0)
        local = [self.socket_inputs(s, inputs) for s in range(n)]

        def run(graph, extra):
            return [evaluate(self.compiled[s][graph].graph, {**local[s], **extra}, rdu.lanes,
                             rdu.pmu_depth) for s in range(n)]

        def allreduce(values, region):
            if n == 1:
                return values[0]
            regions = [np.zeros(self.region_words[region], np.uint32) for _ in range(n)]
            for reg, value in zip(regions, values, strict=True):
                reg[:d] = value.reshape(-1)
            return allreduce_golden(regions)[:d].reshape(1, d)

        want = {"attn": run("attn", {})}
        want["o"] = allreduce([w["partial"] for w in want["attn"]], "o")
        want["ffn"] = run("ffn", {"o": want["o"]})
        want["down"] = allreduce([w["down"] for w in want["ffn"]], "down")
        want["res"] = run("res", {"o": want["o"], "down": want["down"]})
        return want

    def collect(self, result: dict, phases: dict | None = None,
                prefix: str = "") -> TPDecoderResult:
        """The :class:`TPDecoderResult` of a run of :meth:`script` (or of the layer
        :meth:`enqueue_layer` queued with ``prefix``, returning ``phases``)."""
        phases = self.phases if phases is None else phases
        outputs = [{graph: collect_outputs(c, result, f"{prefix}s{s}_{graph}_")
                    for graph, c in compiled.items()}
                   for s, compiled in enumerate(self.compiled)]
        if self.orchestration == "hardware":
            socket_cycles = [{"layer": result.cycles(f"{prefix}s{s}_layer_schedule")}
                             for s in range(self.system.sockets)]
        else:
            socket_cycles = [{graph: collect_run(c, result, tag=f"{prefix}s{s}_{graph}_").cycles
                              for graph, c in compiled.items()}
                             for s, compiled in enumerate(self.compiled)]
        return TPDecoderResult(
            outputs=[o["res"]["out"] for o in outputs],
            partials=[o["attn"]["partial"] for o in outputs],
            downs=[o["ffn"]["down"] for o in outputs],
            kv=[{k: v for k, v in o["attn"].items() if k != "partial"} for o in outputs],
            phase_cycles={phase: result.cycles(names[0], names[-1])
                          for phase, names in phases.items()},
            socket_cycles=socket_cycles,
            launches=[{g: len(c.kernels) for g, c in compiled.items()}
                      for compiled in self.compiled])
