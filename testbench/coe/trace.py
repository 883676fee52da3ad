"""Request traces with Zipf-skewed category popularity, deterministic from a seed.

Each request aims at one router category: the categories are ranked by a seeded
permutation and rank ``k`` (0-based) is drawn with probability proportional to
``1 / (k + 1) ** zipf``. Its ``m`` tokens (uniform in ``tokens``) are
``x = noise * N(0, 1) + strength * r / |r|**2`` with ``r`` the category's router
column, rounded to bf16 to nearest even, so the router's logit for that category
is about ``strength`` above the others. A ``weak_share`` of the requests carry no
signal (``strength`` 0): their confidence is low and they fall back to the general
expert. The target is only the generator's intent; the router decides the route.

A request also generates ``new_tokens`` tokens (uniform in ``new_tokens``; one decode
step each, see :mod:`.decode_step`), drawn from a stream of its own
(``[seed, NEW_TOKENS_STREAM]``), so the rest of a trace does not depend on it.
"""

from dataclasses import dataclass

import numpy as np

from testbench.golden.numerics import bf16_to_f32, f32_to_bf16

from .experts import RouterCheckpoint

__all__ = ["Request", "Trace", "make_trace", "zipf_probabilities", "NEW_TOKENS_STREAM"]

#: the second word of the seed of the new-token counts
NEW_TOKENS_STREAM = 0x6E7


@dataclass(frozen=True, eq=False)
class Request:
    """One request: id, arrival order, token count ``m`` and bf16 input ``x`` ``[m, d]``
    (uint16 bits); ``target`` is the category the generator aimed at; ``new_tokens`` the
    tokens it generates (decode steps of its expert)."""

    id: int
    arrival: int
    m: int
    x: np.ndarray
    target: str
    new_tokens: int = 1

    def padded_x(self, tokens: int) -> np.ndarray:
        """``x`` with zero rows appended up to ``tokens`` rows (what a program built for
        ``tokens`` rows reads; the expert's output rows past ``m`` are discarded)."""
        if tokens < self.m:
            raise ValueError(f"request {self.id} has {self.m} tokens, more than {tokens}")
        padded = np.zeros((tokens, self.x.shape[1]), np.uint16)
        padded[:self.m] = self.x
        return padded


@dataclass(frozen=True, eq=False)
class Trace:
    """Requests in arrival order plus the parameters that generated them."""

    requests: tuple
    seed: int
    zipf: float

    def __len__(self) -> int:
        return len(self.requests)

    def __iter__(self):
        return iter(self.requests)

    @property
    def tokens(self) -> int:
        """The largest ``m``: programs are built for this many rows, inputs zero-padded."""
        return max(r.m for r in self.requests)


def zipf_probabilities(count: int, zipf: float) -> np.ndarray:
    """Probability of popularity rank ``0 .. count-1``, proportional to ``1/(k+1)**zipf``."""
    weights = 1.0 / np.arange(1, count + 1, dtype=np.float64) ** zipf
    return weights / weights.sum()


def make_trace(router: RouterCheckpoint, requests: int, seed: int, *, zipf: float = 1.2,
               tokens: tuple = (1, 8), weak_share: float = 0.1, strength: float = 8.0,
               noise: float = 0.5, new_tokens: tuple = (1, 1)) -> Trace:
    """``requests`` requests for the categories of ``router`` (see the module docstring)."""
    if requests < 1:
        raise ValueError(f"need at least one request, not {requests}")
    for name, (low, high) in (("tokens", tokens), ("new_tokens", new_tokens)):
        if not 1 <= low <= high:
            raise ValueError(f"{name} must be (low, high) with 1 <= low <= high, not "
                             f"{(low, high)}")
    low, high = tokens
    generated = np.random.default_rng([seed, NEW_TOKENS_STREAM]).integers(
        new_tokens[0], new_tokens[1] + 1, requests)
    rng = np.random.default_rng(seed)
    columns = np.asarray(bf16_to_f32(router.weights), np.uint32).view(np.float32)
    columns = columns.astype(np.float64)
    d, count = columns.shape
    ranking = rng.permutation(count)
    probabilities = zipf_probabilities(count, zipf)
    made = []
    for i in range(requests):
        target = int(ranking[rng.choice(count, p=probabilities)])
        m = int(rng.integers(low, high + 1))
        alpha = 0.0 if rng.random() < weak_share else strength
        direction = columns[:, target] / max(float(columns[:, target] @ columns[:, target]), 1e-30)
        values = (noise * rng.standard_normal((m, d)) + alpha * direction).astype(np.float32)
        x = np.asarray(f32_to_bf16(values.view(np.uint32)), np.uint16)
        made.append(Request(i, i, m, x, router.categories[target], int(generated[i])))
    return Trace(tuple(made), seed, zipf)
