"""A Llama-style decoder layer in float64, written from its definition, and bounds on how far
an implementation that rounds to bfloat16 and binary32 may be from it.

The layer decodes one token ``x`` (width ``D``) at position ``t`` with ``H`` heads of width
``dh`` and a SwiGLU feed-forward of width ``F`` (Llama; rotary embedding in rotate-half
form)::

    RMSNorm(v; g) = v / sqrt(mean(v^2) + eps) * g
    xn = RMSNorm(x; attn_norm)
    per head h:
        q = RoPE_t(xn @ wq[h]),  k = RoPE_t(xn @ wk[h]),  v = xn @ wv[h]
        s_j = q . K[h][j] / sqrt(dh) for the T cached keys, and s_T = q . k: decoding the
        newest token, attending to the cache and to itself is the causal mask
        p = softmax(s);  a = sum_j p_j V[h][j] with V[h][T] = v
        o_h = a @ wo[h]
    h1  = x + sum_h o_h
    hn  = RMSNorm(h1; ffn_norm)
    out = h1 + (silu(hn @ w1) * (hn @ w3)) @ w2,   silu(z) = z / (1 + exp(-z))

    RoPE_t(v)[i]        = v[i] cos(t th_i) - v[i + dh/2] sin(t th_i)
    RoPE_t(v)[i + dh/2] = v[i + dh/2] cos(t th_i) + v[i] sin(t th_i),  th_i = base^(-2i/dh)

The cache holds keys already rotated at their own positions; the layer also returns ``k``
and ``v``, the entries the host appends. Nothing here comes from the kernel compiler's
graph builder (testbench/compiler/transformer.py): this is the independent reference for
the golden model of its decoder graph.

The implementation compared rounds to bfloat16 at eight points (:data:`ROUNDING_POINTS`):
``xn``, ``q / sqrt(dh)``, the new ``k`` and ``v``, the unnormalised attention weights of
the cached tokens (in the numerator only), the attention output ``a``, ``hn`` and
``silu(.) * (.)``. Everything else is binary32 (GEMMs and sums accumulate in binary32 in
some order; the rotary tables and constants are binary32), and exp, reciprocal, rsqrt and
silu are within a few binary32 ulp. Rounding to nearest with a p-bit significand has
relative error at most 2^-p: ``u = 2^-8`` for bfloat16, ``2^-24`` for binary32.

Bounds:

* :func:`output_bound`, the one the output is checked against. To first order the output
  error is ``sum_k S_k delta_k``: ``delta_k`` the relative error of the k-th rounded
  element, ``S_k`` the output's sensitivity to a relative change there
  (:func:`rounding_sensitivities`: central differences through :func:`decoder_layer`'s
  ``factors``). Rounding to nearest leaves ``|delta_k|`` at most half an ulp relative to
  the value, ``u_k <= u`` (:func:`half_ulp`, with slack for the implementation's value
  being a little off the reference's). The discarded bits behave as random, so
  ``delta_k`` is modelled as independent and uniform on ``[-u_k, u_k]`` (the model of
  probabilistic rounding error analysis, Higham and Mary 2019). A uniform variable is
  sub-Gaussian with variance proxy ``u_k^2 / 3``, so ``|sum_k S_k delta_k|`` exceeds
  ``sqrt(2 ln(2 / P)) * sqrt(sum_k (S_k u_k)^2 / 3)`` with probability at most ``P``; with
  ``P = 1e-8`` per element that is ``3.57 ||S u||_2`` (:func:`rounding_bound`). The bound
  takes 1.1 times that, and refuses (ValueError) unless the first-order model is off by
  less than the extra 10% at random sign patterns of the rounding errors' size
  (:func:`linearisation_remainder`); it adds the worst case of the binary32 and
  transcendental errors (:func:`error_bound` with no bfloat16 rounding: about 1e-4 of the
  output). The worst case of the bfloat16 roundings themselves, ``sum_k |S_k| u_k`` or
  :func:`error_bound`, is no use here: it aligns every rounding error's sign and comes out
  at 40% to several times the largest output on the tests' layers.
* :func:`error_bound`: a worst case, element by element, over every rounding (absolute
  error ``E`` carried through each operation: roundings add ``unit (|y| + E)``, a matrix
  product ``E @ |W|`` plus the binary32 sum's ``gamma_n (|y| + E) @ |W|``, products of two
  perturbed values their cross term, softmax the exact effect of score errors through
  ``e^E``, RMSNorm the triangle inequality on the rms, silu ``|silu''| <= 1/2``).
  :func:`cache_entry_bound` is its first part: the new cache entries, one rounding after
  a short chain.
* :func:`summation_order_bound`: between two implementations with the same rounding points
  that differ only in summation orders (the tensor-parallel split), from one of them's
  values before each rounding. Worst case and rigorous: bfloat16 rounding is monotonic,
  so two values within ``d`` of each other round to values at most
  ``rne(y + d) - rne(y - d)`` apart, which is zero unless a rounding boundary lies in
  between.
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["LayerWeights", "AttentionTrace", "FfnTrace", "Rounding", "ROUNDING_POINTS",
           "rope_angles", "rotate_half", "rmsnorm", "round_bf16", "decoder_layer",
           "ffn_block", "weights_from_bits", "head_outputs_from_bits", "ffn_values_from_bits",
           "rounding_points", "rounding_sensitivities", "half_ulp", "rounding_units",
           "rounding_bound", "linearisation_remainder", "output_bound", "error_bound",
           "cache_entry_bound", "summation_order_bound"]

ROUNDING_POINTS = ("xn", "qs", "k", "v", "weights", "att", "hn", "act")


@dataclass(frozen=True)
class LayerWeights:
    """float64 weights: norms ``[D]``; ``wq``, ``wk``, ``wv`` ``[H, D, dh]``; ``wo``
    ``[H, dh, D]``; ``w1``, ``w3`` ``[D, F]``; ``w2`` ``[F, D]``."""

    attn_norm: np.ndarray
    wq: np.ndarray
    wk: np.ndarray
    wv: np.ndarray
    wo: np.ndarray
    ffn_norm: np.ndarray
    w1: np.ndarray
    w3: np.ndarray
    w2: np.ndarray


@dataclass(frozen=True)
class FfnTrace:
    """The feed-forward half's values: input ``h1``, its ``rms`` (with eps), ``hn``, the
    projections ``gate_in`` and ``up``, ``gate = silu(gate_in)``, ``act``, ``down``, ``out``."""

    h1: np.ndarray
    rms: float
    hn: np.ndarray
    gate_in: np.ndarray
    up: np.ndarray
    gate: np.ndarray
    act: np.ndarray
    down: np.ndarray
    out: np.ndarray


@dataclass(frozen=True)
class AttentionTrace:
    """The layer's values (per-head arrays lead with the head): ``xn``; the projections
    before rotation ``q_lin``, ``k_lin``; ``q``, ``k``, ``v``; ``cos``, ``sin`` ``[dh]``;
    ``scores``, ``probs`` ``[H, T + 1]`` (the new token last); ``att``; ``o`` ``[H, D]``;
    and the feed-forward half ``ffn``."""

    x: np.ndarray
    xn: np.ndarray
    q_lin: np.ndarray
    k_lin: np.ndarray
    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    cos: np.ndarray
    sin: np.ndarray
    scores: np.ndarray
    probs: np.ndarray
    att: np.ndarray
    o: np.ndarray
    ffn: FfnTrace

    @property
    def out(self) -> np.ndarray:
        return self.ffn.out


def rope_angles(position: int, head_dim: int, base: float = 10000.0) -> np.ndarray:
    """``t * th_i`` for ``i < dh/2``, repeated for the second half of the head."""
    half = head_dim // 2
    theta = base ** (-2.0 * np.arange(half) / head_dim)
    return np.concatenate([theta, theta]) * position


def rotate_half(v: np.ndarray) -> np.ndarray:
    """``[-v[dh/2:], v[:dh/2]]`` along the last axis."""
    half = v.shape[-1] // 2
    return np.concatenate([-v[..., half:], v[..., :half]], axis=-1)


def rmsnorm(v: np.ndarray, gain: np.ndarray, eps: float) -> tuple[np.ndarray, float]:
    """``(v / rms * gain, rms)`` with ``rms = sqrt(mean(v^2) + eps)``."""
    rms = float(np.sqrt(np.mean(v * v) + eps))
    return v / rms * gain, rms


def round_bf16(y) -> np.ndarray:
    """float64 values rounded to 8 significant bits, to nearest even (bfloat16 for the
    normal range, which is all this module needs)."""
    mantissa, exponent = np.frexp(np.asarray(y, np.float64))
    return np.ldexp(np.round(np.ldexp(mantissa, 8)), exponent - 8)


def _ones(w: LayerWeights, tokens: int) -> dict:
    """All-ones factors: one array per rounding point, shaped as its values."""
    heads, width, head_dim = w.wq.shape
    sizes = {"xn": (width,), "qs": (heads, head_dim), "k": (heads, head_dim),
             "v": (heads, head_dim), "weights": (heads, tokens), "att": (heads, head_dim),
             "hn": (width,), "act": (w.w1.shape[1],)}
    return {name: np.ones(sizes[name]) for name in ROUNDING_POINTS}


def ffn_block(h1: np.ndarray, w: LayerWeights, eps: float = 1e-5,
              factors: dict | None = None) -> FfnTrace:
    """The feed-forward half with its residual, from ``h1`` ``[D]`` (``factors``: see
    :func:`decoder_layer`)."""
    hn, rms = rmsnorm(h1, w.ffn_norm, eps)
    if factors is not None:
        hn = hn * factors["hn"]
    gate_in, up = hn @ w.w1, hn @ w.w3
    gate = gate_in / (1.0 + np.exp(-gate_in))
    act = gate * up if factors is None else gate * up * factors["act"]
    down = act @ w.w2
    return FfnTrace(h1, rms, hn, gate_in, up, gate, act, down, h1 + down)


def decoder_layer(x: np.ndarray, w: LayerWeights, k_cache: np.ndarray, v_cache: np.ndarray,
                  position: int, eps: float = 1e-5, rope_base: float = 10000.0,
                  factors: dict | None = None) -> AttentionTrace:
    """The layer on ``x`` ``[D]`` with caches ``[H, T, dh]`` at ``position``: ``.out`` is
    the output, ``.k`` and ``.v`` the new cache entries.

    ``factors`` (for the error analysis; None for the layer itself): the values at each of
    :data:`ROUNDING_POINTS` multiplied by these arrays, i.e. perturbed where a bfloat16
    implementation rounds (``weights``: the cached tokens' attention weights in the
    numerator of ``a`` only, as the implementation rounds them for its value GEMM alone)."""
    heads, tokens, head_dim = k_cache.shape
    f = factors
    xn, _ = rmsnorm(x, w.attn_norm, eps)
    if f is not None:
        xn = xn * f["xn"]
    angles = rope_angles(position, head_dim, rope_base)
    cos, sin = np.cos(angles), np.sin(angles)
    q_lin = np.einsum("d,hde->he", xn, w.wq)
    k_lin = np.einsum("d,hde->he", xn, w.wk)
    v = np.einsum("d,hde->he", xn, w.wv)
    q = q_lin * cos + rotate_half(q_lin) * sin
    k = k_lin * cos + rotate_half(k_lin) * sin
    qs = q / np.sqrt(head_dim)
    if f is not None:
        k, v, qs = k * f["k"], v * f["v"], qs * f["qs"]
    keys = np.concatenate([k_cache, k[:, None, :]], axis=1)      # [H, T + 1, dh]
    values = np.concatenate([v_cache, v[:, None, :]], axis=1)
    scores = np.einsum("he,hje->hj", qs, keys)
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    probs = weights / weights.sum(axis=1, keepdims=True)
    if f is None:
        att = np.einsum("hj,hje->he", probs, values)
    else:
        numerator = (np.einsum("hj,hje->he", weights[:, :tokens] * f["weights"], v_cache)
                     + weights[:, tokens:] * v)
        att = numerator / weights.sum(axis=1, keepdims=True) * f["att"]
    o = np.einsum("he,hed->hd", att, w.wo)
    ffn = ffn_block(x + o.sum(axis=0), w, eps, f)
    return AttentionTrace(x, xn, q_lin, k_lin, q, k, v, cos, sin, scores, probs, att, o, ffn)


def _f64(bits) -> np.ndarray:
    """binary32 (uint32) or bfloat16 (uint16) bit patterns as float64."""
    bits = np.asarray(bits)
    if bits.dtype == np.uint16:
        bits = bits.astype(np.uint32) << 16
    return np.asarray(bits, np.uint32).view(np.float32).astype(np.float64)


def weights_from_bits(inputs: dict, heads: int):
    """``(x, LayerWeights, k_cache [H, T, dh], v_cache [H, T, dh])`` from bit-pattern arrays
    named as the compiler's decoder graph names them (``x``, ``attn_norm``, ``wq<h>``,
    ``wk<h>``, ``wv<h>``, ``wo<h>``, ``k_cache<h>`` [dh, T] (keys transposed),
    ``v_cache<h>``, ``ffn_norm``, ``w1``, ``w3``, ``w2``); rotated weights and rotary tables
    are not read."""
    f = {name: _f64(value) for name, value in inputs.items()}
    stack = {p: np.stack([f[f"{p}{h}"] for h in range(heads)])
             for p in ("wq", "wk", "wv", "wo", "v_cache")}
    k_cache = np.stack([f[f"k_cache{h}"].T for h in range(heads)])
    weights = LayerWeights(f["attn_norm"][0], stack["wq"], stack["wk"], stack["wv"],
                           stack["wo"], f["ffn_norm"][0], f["w1"], f["w3"], f["w2"])
    return f["x"][0], weights, k_cache, stack["v_cache"]


def head_outputs_from_bits(tensors: dict, heads: int) -> np.ndarray:
    """``o_h`` ``[H, D]`` from an implementation's tensors named ``h<h>.o`` (the compiler's
    decoder graph's names)."""
    return np.stack([_f64(tensors[f"h{h}.o"])[0] for h in range(heads)])


def ffn_values_from_bits(tensors: dict) -> dict:
    """An implementation's feed-forward values for :func:`summation_order_bound`, from its
    tensors as the compiler's decoder graph names them."""
    names = {"h1": "h1", "norm": "ffn.norm", "hn": "ffn.hn", "gate_in": "ffn.h1",
             "up": "ffn.h3", "gate": "ffn.gate", "act": "ffn.act", "ff": "ffn.act_b",
             "out": "out"}
    return {key: _f64(tensors[name])[0] for key, name in names.items()}


# ---- the probabilistic first-order bound --------------------------------------------------

def rounding_points(trace: AttentionTrace) -> dict:
    """The exact values at each of :data:`ROUNDING_POINTS` (what the implementation rounds)."""
    tokens = trace.scores.shape[1] - 1
    weights = np.exp(trace.scores - trace.scores.max(axis=1, keepdims=True))[:, :tokens]
    return {"xn": trace.xn, "qs": trace.q / np.sqrt(trace.q.shape[1]), "k": trace.k,
            "v": trace.v, "weights": weights, "att": trace.att, "hn": trace.ffn.hn,
            "act": trace.ffn.act}


def half_ulp(y, slack: float = 2.0 ** -4) -> np.ndarray:
    """Largest relative error of rounding to bfloat16 any value within ``slack`` (relative)
    of ``y``: half an ulp over the smallest such magnitude, at most ``2^-8``."""
    low = np.abs(np.asarray(y, np.float64)) * (1 - slack)
    exponent = np.floor(np.log2(np.where(low > 0, low, 1.0)))
    return np.where(low > 0, np.minimum(2.0 ** (exponent - 8) / np.where(low > 0, low, 1.0),
                                        2.0 ** -8), 2.0 ** -8)


def rounding_sensitivities(x, w: LayerWeights, k_cache, v_cache, position: int,
                           eps: float = 1e-5, step: float = 2.0 ** -20) -> np.ndarray:
    """``S [D, K]``: d out / d delta_k for every rounded element k (the points of
    :data:`ROUNDING_POINTS` in order, each flattened), by central differences."""
    ones = _ones(w, k_cache.shape[1])
    columns = []
    for name in ROUNDING_POINTS:
        for index in np.ndindex(*ones[name].shape):
            outs = []
            for sign in (1, -1):
                factors = {key: value.copy() for key, value in ones.items()}
                factors[name][index] += sign * step
                outs.append(decoder_layer(x, w, k_cache, v_cache, position, eps,
                                          factors=factors).out)
            columns.append((outs[0] - outs[1]) / (2 * step))
    return np.array(columns).T


def rounding_units(trace: AttentionTrace) -> np.ndarray:
    """``u_k`` of every rounded element, in :func:`rounding_sensitivities`' order."""
    points = rounding_points(trace)
    return np.concatenate([half_ulp(points[name]).ravel() for name in ROUNDING_POINTS])


def rounding_bound(sensitivities: np.ndarray, units: np.ndarray,
                   probability: float = 1e-8) -> np.ndarray:
    """Per output element, a ``t`` that ``|sum_k S_k delta_k|`` exceeds with probability at
    most ``probability``, for independent ``delta_k`` uniform within ``+-units``: a
    uniform variable on ``[-a, a]`` is sub-Gaussian with variance proxy ``a^2 / 3``
    (``E e^{sX} = sinh(sa) / (sa) <= e^{s^2 a^2 / 6}``), so
    ``t = sqrt(2 ln(2 / probability)) * sqrt(sum_k (S_k u_k)^2 / 3)``."""
    proxy = np.sum((sensitivities * units) ** 2, axis=1) / 3
    return np.sqrt(2 * np.log(2 / probability) * proxy)


def linearisation_remainder(x, w: LayerWeights, k_cache, v_cache, position: int,
                            sensitivities, units, rng, draws: int = 8, eps: float = 1e-5):
    """Largest ``|out(delta) - out - S delta|`` per element over ``draws`` random sign
    vectors ``delta = +-units``: how far the first-order model is off at the size of the
    rounding errors."""
    exact = decoder_layer(x, w, k_cache, v_cache, position, eps).out
    ones = _ones(w, k_cache.shape[1])
    sizes = [ones[name].size for name in ROUNDING_POINTS]
    worst = np.zeros_like(exact)
    for _ in range(draws):
        delta = units * rng.choice([-1.0, 1.0], units.shape)
        parts = np.split(delta, np.cumsum(sizes)[:-1])
        factors = {name: 1 + part.reshape(ones[name].shape)
                   for name, part in zip(ROUNDING_POINTS, parts, strict=True)}
        moved = decoder_layer(x, w, k_cache, v_cache, position, eps, factors=factors).out
        worst = np.maximum(worst, np.abs(moved - exact - sensitivities @ delta))
    return worst


def output_bound(x, w: LayerWeights, k_cache, v_cache, position: int, eps: float = 1e-5,
                 slack: float = 0.1, rng=None) -> tuple[AttentionTrace, np.ndarray]:
    """``(trace, bound)``: the layer, and the bound its output is checked against:
    ``(1 + slack)`` times :func:`rounding_bound` plus the worst case of the binary32 and
    transcendental errors. ValueError if the first-order model is off by more than
    ``slack`` of its bound at the rounding errors' size (then the bound does not apply)."""
    trace = decoder_layer(x, w, k_cache, v_cache, position, eps)
    sensitivities = rounding_sensitivities(x, w, k_cache, v_cache, position, eps)
    units = rounding_units(trace)
    first_order = rounding_bound(sensitivities, units)
    remainder = linearisation_remainder(x, w, k_cache, v_cache, position, sensitivities,
                                        units, rng or np.random.default_rng(1), eps=eps)
    if (remainder > slack * first_order).any():
        raise ValueError(f"the first-order model is off by {np.max(remainder / first_order):.2f}"
                         f" of its bound (more than {slack}): the layer is too ill-conditioned "
                         f"at these inputs for this bound")
    binary32 = error_bound(trace, w, k_cache, v_cache, Rounding(bf16=0.0))
    return trace, (1 + slack) * first_order + binary32


# ---- worst-case bounds ------------------------------------------------------------------

@dataclass(frozen=True)
class Rounding:
    """Relative errors the worst-case bounds assume: each rounding to bfloat16 (8-bit
    significand), each binary32 operation, constant and table entry, and
    exp/reciprocal/rsqrt/silu (4 binary32 ulp, the weakest accuracy the project's units
    are required to meet)."""

    bf16: float = 2.0 ** -8
    fp32: float = 2.0 ** -24
    transcendental: float = 4 * 2.0 ** -23


def _gamma(n: int, r: Rounding) -> float:
    """Relative error bound of a binary32 sum (or dot product) of ``n`` terms."""
    return n * r.fp32 / (1 - n * r.fp32)


def _rounded(value, error, unit):
    """Error after rounding a value computed with ``error`` to relative precision ``unit``."""
    return error + unit * (np.abs(value) + error)


def _matmul(error, value, weight, r: Rounding):
    """Error of ``value' @ weight`` in binary32 when ``value'`` is ``value`` within ``error``."""
    aw = np.abs(weight)
    return error @ aw + _gamma(weight.shape[-2], r) * ((np.abs(value) + error) @ aw)


def _norm_rounding(width: int, r: Rounding) -> float:
    """Relative error of the binary32 RMSNorm itself: sum of squares, times fp32(1/D), plus
    fp32(eps) (gamma_{D+5}), rsqrt, then two multiplies."""
    return (1 + _gamma(width + 5, r)) * (1 + r.transcendental) * (1 + r.fp32) ** 2 - 1


def _silu_slope(z):
    sig = 1.0 / (1.0 + np.exp(-z))
    return np.abs(sig * (1.0 + z * (1.0 - sig)))


def _ffn_error(ffn: FfnTrace, w: LayerWeights, e_h1: np.ndarray, r: Rounding) -> np.ndarray:
    """Worst-case error of ``out`` when ``h1`` enters within ``e_h1``."""
    width = len(ffn.h1)
    delta = float(np.sqrt(np.sum(e_h1 ** 2) / width))
    if delta >= ffn.rms:
        raise ValueError("the input error is as large as the rms: no useful bound")
    moved = np.abs(w.ffn_norm) * (e_h1 + np.abs(ffn.h1) * delta / ffn.rms) / (ffn.rms - delta)
    e_hn = _rounded(ffn.hn, _rounded(ffn.hn, moved, _norm_rounding(width, r)), r.bf16)
    e_gate_in = _matmul(e_hn, ffn.hn, w.w1, r)
    e_up = _matmul(e_hn, ffn.hn, w.w3, r)
    e_gate = _rounded(ffn.gate, (_silu_slope(ffn.gate_in) + e_gate_in / 2) * e_gate_in,
                      r.transcendental)
    e_act = np.abs(ffn.up) * e_gate + np.abs(ffn.gate) * e_up + e_gate * e_up
    e_ff = _rounded(ffn.act, _rounded(ffn.act, e_act, r.fp32), r.bf16)
    e_down = _matmul(e_ff, ffn.act, w.w2, r)
    return _rounded(ffn.out, e_h1 + e_down, r.fp32)


def _projection_errors(trace: AttentionTrace, w: LayerWeights, r: Rounding):
    """Worst-case errors of ``xn`` (rounded), ``q``, ``k``, ``v`` (before their roundings)."""
    heads = w.wq.shape[0]
    three = (1 + r.fp32) ** 3 - 1
    e_xn = _rounded(trace.xn, _norm_rounding(len(trace.x), r) * np.abs(trace.xn), r.bf16)

    def rotary(lin, weight):
        e_lin = np.stack([_matmul(e_xn, trace.xn, weight[h], r) for h in range(heads)])
        e_rot, rot = np.abs(rotate_half(e_lin)), np.abs(rotate_half(lin))
        cos, sin = np.abs(trace.cos), np.abs(trace.sin)
        # binary32 tables, two products and a sum
        return (e_lin * cos + e_rot * sin
                + three * ((np.abs(lin) + e_lin) * cos + (rot + e_rot) * sin))

    e_v = np.stack([_matmul(e_xn, trace.xn, w.wv[h], r) for h in range(heads)])
    return e_xn, rotary(trace.q_lin, w.wq), rotary(trace.k_lin, w.wk), e_v


def cache_entry_bound(trace: AttentionTrace, w: LayerWeights, r: Rounding = Rounding()
                      ) -> dict:
    """Worst-case bounds ``{"k": [H, dh], "v": [H, dh]}`` on the new cache entries (bfloat16
    roundings of ``k`` and ``v``, after ``xn``'s)."""
    _, _, e_k, e_v = _projection_errors(trace, w, r)
    return {"k": _rounded(trace.k, e_k, r.bf16), "v": _rounded(trace.v, e_v, r.bf16)}


def error_bound(trace: AttentionTrace, w: LayerWeights, k_cache: np.ndarray,
                v_cache: np.ndarray, r: Rounding = Rounding()) -> np.ndarray:
    """Worst-case element-wise bound on ``|out' - trace.out|`` for the rounding
    implementation of the module docstring (ValueError if it grows past any use)."""
    heads, tokens, head_dim = k_cache.shape
    e_xn, e_q, e_k, e_v = _projection_errors(trace, w, r)
    e_k_new, e_v_new = _rounded(trace.k, e_k, r.bf16), _rounded(trace.v, e_v, r.bf16)
    scale = 1.0 / np.sqrt(head_dim)
    qs = trace.q * scale
    e_qb = _rounded(qs, e_q * scale + ((1 + r.fp32) ** 2 - 1) * (np.abs(qs) + e_q * scale),
                    r.bf16)

    e_o = np.zeros_like(trace.o)
    for h in range(heads):
        keys = np.abs(k_cache[h])
        aq = np.abs(qs[h]) + e_qb[h]
        e_s = np.empty(tokens + 1)
        e_s[:tokens] = keys @ e_qb[h] + _gamma(head_dim, r) * (keys @ aq)
        knew = np.abs(trace.k[h])
        e_s[tokens] = (e_qb[h] @ knew + np.abs(qs[h]) @ e_k_new[h] + e_qb[h] @ e_k_new[h]
                       + _gamma(head_dim + 1, r) * (aq @ (knew + e_k_new[h])))
        p, scores = trace.probs[h], trace.scores[h]
        values = np.concatenate([v_cache[h], trace.v[h][None]], axis=0)    # [T + 1, dh]
        # weights exp(fl(s' - m')): the subtraction's rounding on |s - m| (m' is within
        # max E of the true maximum) and exp's own error, common to numerator and sum
        shift = scores.max() - scores + 2 * e_s.max()
        tau = (1 + r.transcendental) * np.exp(r.fp32 * shift) - 1
        b = np.exp(e_s) * (1 + tau) - 1
        if b.max() >= 1:
            raise ValueError("the score error is too large for a useful attention bound")
        e_att = (p * b) @ np.abs(values - trace.att[h]) / (1 - b.max())
        p_moved = p * (1 + b) / (1 - b.max())                 # perturbed probabilities
        past = p_moved[:tokens] @ np.abs(values[:tokens])
        e_att = e_att + r.bf16 * past + p_moved[tokens] * e_v_new[h]
        total = (1 + r.bf16) * past + p_moved[tokens] * (np.abs(values[tokens]) + e_v_new[h])
        sums = _gamma(tokens, r) + 2 * r.fp32                 # the value GEMM, o_new, o add
        divide = ((1 + _gamma(tokens + 1, r) / (1 - _gamma(tokens + 1, r)))
                  * (1 + r.transcendental) * (1 + r.fp32) - 1)
        e_att = e_att + sums * total + divide * (1 + sums) * total
        e_o[h] = _matmul(_rounded(trace.att[h], e_att, r.bf16), trace.att[h], w.wo[h], r)

    e_sum = e_o.sum(axis=0) + _gamma(heads - 1, r) * (np.abs(trace.o) + e_o).sum(axis=0)
    e_h1 = _rounded(trace.ffn.h1, e_sum, r.fp32)
    return _ffn_error(trace.ffn, w, e_h1, r)


def _rounding_spread(before, distance):
    """How far apart bfloat16 roundings of two values within ``distance`` of ``before`` can
    be (rounding is monotonic): the larger step from ``rne(before)`` to the range's ends."""
    centre = round_bf16(before)
    return np.maximum(round_bf16(before + distance) - centre,
                      centre - round_bf16(before - distance))


def summation_order_bound(o: np.ndarray, values: dict, w: LayerWeights, eps: float = 1e-5,
                          r: Rounding = Rounding()) -> np.ndarray:
    """Bound on ``|out_A - out_B|`` for two implementations that share the head outputs
    ``o`` ``[H, D]`` bit for bit and differ only in summation orders (of the heads, of the
    down-projection). ``values``: B's ``h1``, ``norm`` (before its bfloat16 rounding),
    ``hn``, ``gate_in``, ``up``, ``gate``, ``act`` (before rounding), ``ff``, ``out``."""
    width = o.shape[1]
    e_sum = 2 * _gamma(o.shape[0] - 1, r) * np.abs(o).sum(axis=0)
    h1 = values["h1"]
    d_h1 = e_sum + r.fp32 * (2 * np.abs(h1) + e_sum)
    normed, rms = rmsnorm(h1, w.ffn_norm, eps)
    delta = float(np.sqrt(np.sum(d_h1 ** 2) / width))
    if delta >= rms:
        raise ValueError("the input difference is as large as the rms: no useful bound")
    moved = np.abs(w.ffn_norm) * (d_h1 + np.abs(h1) * delta / rms) / (rms - delta)
    d_norm = moved + _norm_rounding(width, r) * (2 * np.abs(normed) + moved)
    d_hn = _rounding_spread(values["norm"], d_norm)
    hn = np.abs(values["hn"])
    d_gate_in = d_hn @ np.abs(w.w1) + 2 * _gamma(width, r) * ((hn + d_hn) @ np.abs(w.w1))
    d_up = d_hn @ np.abs(w.w3) + 2 * _gamma(width, r) * ((hn + d_hn) @ np.abs(w.w3))
    lipschitz = (_silu_slope(values["gate_in"]) + d_gate_in / 2) * d_gate_in
    d_gate = lipschitz + r.transcendental * (2 * np.abs(values["gate"]) + lipschitz)
    d_act = (np.abs(values["up"]) * d_gate + np.abs(values["gate"]) * d_up + d_gate * d_up)
    d_act = d_act + r.fp32 * (2 * np.abs(values["act"]) + d_act)
    d_ff = _rounding_spread(values["act"], d_act)
    d_down = (d_ff @ np.abs(w.w2)
              + 2 * _gamma(len(d_ff), r) * ((np.abs(values["ff"]) + d_ff) @ np.abs(w.w2)))
    return d_h1 + d_down + r.fp32 * (2 * np.abs(values["out"]) + d_h1 + d_down)
