"""The two-step router: a classifier the RDU computes picks a category; a map picks the expert.

Step 1, on the RDU (so the simulation checks it bit-exactly): for a request with
``m`` tokens ``x`` (bf16 ``[m, d]``), zero-padded to ``T >= m`` rows, the graph of
:func:`router_graph` computes per-token logits ``gemm(x, router)``: fp32 ``[T, C]``
(the project's GEMM: bf16 products, binary32 accumulation in K-chunk order), with
the router weights resident in HBM. :func:`testbench.compiler.golden.evaluate` gives
the same bits for the RDU's ``lanes`` and ``pmu_depth``; zero-padded rows give rows
of their own and change no other row.

Step 2, on the host: the request's score per category is the float64 mean of its
``m`` real token rows; ``category = argmax(score)`` (first index on ties; a NaN
counts as ``-inf``), ``confidence`` = the largest softmax probability of the scores
in float64 (``+inf`` scores share probability 1; all ``-inf`` or NaN gives 0);
below ``threshold`` the request goes to the ``general`` expert.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hdl.rdu.config import rdu_params
from testbench.compiler.golden import evaluate
from testbench.compiler.graph import BF16, Graph

from .errors import UnknownExpert
from .experts import GENERAL, ROUTER_FILE, RouterCheckpoint, load_experts, load_router

__all__ = ["DEFAULT_THRESHOLD", "RouteDecision", "Router", "router_graph", "pooled_scores",
           "softmax_confidence", "load_experts_and_router"]

DEFAULT_THRESHOLD = 0.5


def router_graph(tokens: int, d: int, categories: int) -> Graph:
    """The router's dataflow graph: inputs ``x`` bf16 ``[tokens, d]`` and the weight
    ``router`` bf16 ``[d, categories]``; output fp32 ``logits`` ``[tokens, categories]``."""
    graph = Graph()
    graph.output(graph.gemm(graph.input("x", (tokens, d), BF16),
                            graph.input("router", (d, categories), BF16, weight=True), "logits"))
    return graph


def pooled_scores(logits_bits: np.ndarray, m: int) -> np.ndarray:
    """float64 mean of the first ``m`` rows of fp32 logits (uint32 bits ``[T, C]``)."""
    rows = np.asarray(logits_bits, np.uint32)[:m].view(np.float32).astype(np.float64)
    return rows.mean(axis=0)


def softmax_confidence(scores: np.ndarray) -> tuple[int, float]:
    """(argmax index, largest softmax probability) of float64 scores."""
    values = np.asarray(scores, np.float64).reshape(-1)
    with np.errstate(invalid="ignore"):
            values = np.where(np.isnan(values), -np.inf, values)
    best = int(np.argmax(values))
    top = values[best]
    if top == np.inf:
        return best, 1.0 / int(np.count_nonzero(values == np.inf))
    if top == -np.inf:
        return best, 0.0
    return best, float(1.0 / np.sum(np.exp(values - top)))


@dataclass(frozen=True, eq=False)
class RouteDecision:
    """Where request ``request`` goes: the router's category and confidence, the expert
    chosen (``fallback`` when the confidence was below the threshold) and the logits
    (uint32 fp32 bits ``[tokens, C]``) the RDU must reproduce with ``x`` padded to
    ``tokens`` rows."""

    request: int
    category: str
    confidence: float
    expert: str
    fallback: bool
    logits: np.ndarray
    tokens: int


class Router:
    """Router classifier plus category -> expert map and confidence threshold.

    ``experts``: the loaded :class:`~.experts.Expert` list (each category to the expert
    with that category) or a ``{category: expert name}`` dict. Every router category
    and ``general`` must map to an expert, else :class:`UnknownExpert`."""

    def __init__(self, checkpoint: RouterCheckpoint, experts, *,
                 threshold: float = DEFAULT_THRESHOLD, general: str = GENERAL,
                 lanes: int | None = None, pmu_depth: int | None = None):
        if isinstance(experts, dict):
            expert_of = dict(experts)
        else:
            expert_of = {}
            for expert in experts:
                if expert.category in expert_of:
                    raise UnknownExpert(f"category {expert.category!r} has two experts: "
                                        f"{expert_of[expert.category]} and {expert.name}")
                expert_of[expert.category] = expert.name
        for category in (*checkpoint.categories, general):
            if category not in expert_of:
                raise UnknownExpert(f"router category {category!r} has no expert (experts "
                                    f"cover: {', '.join(sorted(expert_of)) or 'none'})")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], not {threshold}")
        preset = rdu_params("small")
        self.checkpoint = checkpoint
        self.expert_of = expert_of
        self.threshold = threshold
        self.general = general
        self.lanes = preset.lanes if lanes is None else lanes
        self.pmu_depth = preset.pmu_depth if pmu_depth is None else pmu_depth

    @property
    def d(self) -> int:
        return self.checkpoint.weights.shape[0]

    def inputs(self, x: np.ndarray, tokens: int | None = None) -> dict:
        """The graph's request input for ``x`` (bf16 ``[m, d]``) zero-padded to ``tokens``."""
        x = np.asarray(x, np.uint16)
        m = x.shape[0]
        tokens = m if tokens is None else tokens
        if x.ndim != 2 or x.shape[1] != self.d:
            raise ValueError(f"x has shape {list(x.shape)}, expected [m, {self.d}]")
        if not 1 <= m <= tokens:
            raise ValueError(f"need 1 <= m <= tokens, not m={m}, tokens={tokens}")
        padded = np.zeros((tokens, self.d), np.uint16)
        padded[:m] = x
        return {"x": padded}

    def graph(self, tokens: int) -> Graph:
        return router_graph(tokens, self.d, len(self.checkpoint.categories))

    def logits(self, x: np.ndarray, tokens: int | None = None) -> np.ndarray:
        """Golden per-token logits (uint32 fp32 bits ``[tokens, C]``) of ``x``."""
        inputs = {**self.inputs(x, tokens), "router": self.checkpoint.weights}
        return evaluate(self.graph(inputs["x"].shape[0]), inputs, self.lanes,
                        self.pmu_depth)["logits"]

    def decide(self, request: int, logits: np.ndarray, m: int) -> RouteDecision:
        """Step 2 on the logits the RDU (or the golden model) computed for a request of
        ``m`` tokens (``logits`` rows: the padded token count)."""
        logits = np.asarray(logits, np.uint32)
        best, confidence = softmax_confidence(pooled_scores(logits, m))
        category = self.checkpoint.categories[best]
        fallback = confidence < self.threshold
        expert = self.expert_of[self.general if fallback else category]
        return RouteDecision(request, category, confidence, expert, fallback, logits,
                             logits.shape[0])

    def route(self, request, tokens: int | None = None) -> RouteDecision:
        """Both steps for a :class:`~.trace.Request`, ``x`` padded to ``tokens`` rows
        (default: its own ``m``)."""
        return self.decide(request.id, self.logits(request.x, tokens), request.m)

    def route_trace(self, trace) -> dict:
        """``{request id: RouteDecision}`` for every request, padded to ``trace.tokens``."""
        return {request.id: self.route(request, trace.tokens) for request in trace}


def load_experts_and_router(directory, shape, **options) -> tuple[list, Router]:
    """The experts in ``directory`` (:func:`~.experts.load_experts`, checked first) and a
    :class:`Router` over them from its router checkpoint; ``options`` go to the Router."""
    experts = load_experts(directory, shape)
    checkpoint = load_router(Path(directory) / ROUTER_FILE, shape.d_model)
    return experts, Router(checkpoint, experts, **options)
