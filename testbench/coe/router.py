"""The two-step router: a classifier the RDU computes picks a category; a map picks the expert.

Step 1, on the RDU (so the simulation can check it bit-exactly): for a request with
``m`` tokens ``x`` (bf16 ``[m, d]``), zero-padded to ``T >= m`` rows,

* ``avg``     = bf16 ``[1, T]``: ``f32_to_bf16(float32(1 / m))`` in the first ``m``
  columns, ``+0`` in the rest (:func:`averaging_row`);
* ``x_sum``   = ``gemm(avg, x)``: fp32 ``[1, d]``, the project's golden GEMM order;
* ``x_mean``  = ``to_bf16(x_sum)`` (round to nearest even);
* ``logits``  = ``gemm(x_mean, router)``: fp32 ``[1, C]``.

That is the two graphs of :func:`router_graphs` (the compiler takes GEMM operands
only from graph inputs, so ``x_mean`` goes back through device memory between
them), evaluated by :func:`testbench.compiler.golden.evaluate` for the RDU's
``lanes`` and ``pmu_depth`` (they fix the GEMM's K chunking). The
logits are defined for the padded ``T`` (the K of the first GEMM), because the
program is built for ``T`` rows. While ``T <= pmu_depth`` (one K chunk) they equal
the unpadded logits bit for bit: a padded term adds ``+-0`` to an fp32 partial sum
that starts at ``+0`` and so is never ``-0``. With more chunks the chunk boundaries
move with ``T`` and the rounding may differ.

Step 2, on the host: ``category = argmax(logits)`` (first index on ties; a NaN
logit counts as ``-inf``), ``confidence`` = the largest softmax probability computed
in float64 from the fp32 logits (``+inf`` logits share probability 1; all ``-inf`` or
NaN gives 0); below ``threshold`` the request goes to the ``general`` expert.
"""

from dataclasses import dataclass

import numpy as np

from hdl.rdu.config import rdu_config
from testbench.compiler.golden import evaluate
from testbench.compiler.graph import BF16, Graph
from testbench.golden.numerics import f32_to_bf16

from .errors import UnknownExpert
from .experts import GENERAL, RouterCheckpoint

__all__ = ["DEFAULT_THRESHOLD", "RouteDecision", "Router", "averaging_row", "router_graphs",
           "softmax_confidence"]

DEFAULT_THRESHOLD = 0.5


def averaging_row(m: int, tokens: int | None = None) -> np.ndarray:
    """The bf16 ``[1, tokens]`` row (uint16 bits) whose GEMM with ``x`` sums ``x / m``."""
    tokens = m if tokens is None else tokens
    if not 1 <= m <= tokens:
        raise ValueError(f"need 1 <= m <= tokens, not m={m}, tokens={tokens}")
    row = np.zeros((1, tokens), np.uint16)
    row[0, :m] = f32_to_bf16(np.float32(1.0 / m).view(np.uint32))
    return row


def router_graphs(tokens: int, d: int, categories: int) -> tuple[Graph, Graph]:
    """The router's two dataflow graphs, run one after the other: ``mean`` (inputs
    ``avg`` ``[1, tokens]``, ``x`` ``[tokens, d]``; output bf16 ``x_mean`` ``[1, d]``) and
    ``logits`` (inputs ``x_mean``, ``router`` ``[d, categories]``; output fp32 ``logits``)."""
    mean = Graph()
    x_sum = mean.gemm(mean.input("avg", (1, tokens), BF16), mean.input("x", (tokens, d), BF16),
                      "x_sum")
    mean.output(mean.to_bf16(x_sum, "x_mean"))
    logits = Graph()
    logits.output(logits.gemm(logits.input("x_mean", (1, d), BF16),
                              logits.input("router", (d, categories), BF16), "logits"))
    return mean, logits


def softmax_confidence(logits_bits: np.ndarray) -> tuple[int, float]:
    """(argmax index, largest softmax probability) of fp32 logits given as uint32 bits."""
    values = np.asarray(logits_bits, np.uint32).reshape(-1).view(np.float32).astype(np.float64)
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
    (uint32 fp32 bits ``[C]``) the RDU must reproduce with ``x`` padded to ``tokens`` rows."""

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
        preset = rdu_config("small")
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
        """The ``mean`` graph's inputs for ``x`` (bf16 ``[m, d]``) zero-padded to ``tokens``."""
        x = np.asarray(x, np.uint16)
        m = x.shape[0]
        tokens = m if tokens is None else tokens
        if x.ndim != 2 or x.shape[1] != self.d:
            raise ValueError(f"x has shape {list(x.shape)}, expected [m, {self.d}]")
        padded = np.zeros((tokens, self.d), np.uint16)
        padded[:m] = x
        return {"avg": averaging_row(m, tokens), "x": padded}

    def graphs(self, tokens: int) -> tuple[Graph, Graph]:
        return router_graphs(tokens, self.d, len(self.checkpoint.categories))

    def mean(self, x: np.ndarray, tokens: int | None = None) -> np.ndarray:
        """Golden ``x_mean`` (uint16 bf16 bits ``[1, d]``) of ``x``."""
        inputs = self.inputs(x, tokens)
        mean, _ = self.graphs(inputs["x"].shape[0])
        return evaluate(mean, inputs, self.lanes, self.pmu_depth)["x_mean"]

    def logits(self, x: np.ndarray, tokens: int | None = None) -> np.ndarray:
        """Golden logits (uint32 fp32 bits ``[C]``) of ``x``."""
        _, logits = self.graphs(1)
        inputs = {"x_mean": self.mean(x, tokens), "router": self.checkpoint.weights}
        return evaluate(logits, inputs, self.lanes, self.pmu_depth)["logits"].reshape(-1)

    def decide(self, request: int, logits: np.ndarray, tokens: int) -> RouteDecision:
        """Step 2 on logits the RDU (or the golden model) computed for ``tokens`` rows."""
        best, confidence = softmax_confidence(logits)
        category = self.checkpoint.categories[best]
        fallback = confidence < self.threshold
        expert = self.expert_of[self.general if fallback else category]
        return RouteDecision(request, category, confidence, expert, fallback,
                             np.asarray(logits, np.uint32).reshape(-1), tokens)

    def route(self, request, tokens: int | None = None) -> RouteDecision:
        """Both steps for a :class:`~.trace.Request`, ``x`` padded to ``tokens`` rows
        (default: its own ``m``)."""
        tokens = request.m if tokens is None else tokens
        return self.decide(request.id, self.logits(request.x, tokens), tokens)

    def route_trace(self, trace) -> dict:
        """``{request id: RouteDecision}`` for every request, padded to ``trace.tokens``."""
        return {request.id: self.route(request, trace.tokens) for request in trace}
