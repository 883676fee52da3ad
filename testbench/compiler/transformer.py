"""Llama-style decode graphs: attention of one new token against a K/V cache, and a
whole decoder layer, built from the graph ops (every step one op, so the golden
model of :mod:`.golden` is their numerics contract).

Decode attention (:func:`decode_attention`, one head, head width ``dh``, ``T``
cached tokens). The cache holds bf16 keys transposed, ``k_cache_t [dh, T]`` (a GEMM
B operand), and values ``v_cache [T, dh]``; the new token brings ``q`` (fp32
``[1, dh]``) and its own key and value ``k_new``, ``v_new`` (bf16 ``[1, dh]``, what the
host appends to the cache after the step). The new token's score and value are
combined with the cache's the way split-softmax (flash) decoding does:

* ``qb = bf16(q * fp32(1/sqrt(dh)))``
* ``s_past = qb @ k_cache_t`` (GEMM: products exact, fp32 sums in K order from +0)
* ``s_new = row_sum(f32(qb) * f32(k_new))`` (exact products, the lane-then-tree sum)
* ``m = max(row_max(s_past), s_new)``
* ``e_past = exp(s_past - m)``, ``e_new = exp(s_new - m)``
* ``l = row_sum(e_past) + e_new``
* ``out = ((bf16(e_past) @ v_cache) + f32(v_new) * e_new) * reciprocal(l)``

Decoder layer (:func:`decoder_layer`, decode of one token at position ``t``, model
width ``D``, ``heads`` heads of width ``dh``, feed-forward width ``F``)::

    xn  = bf16(rmsnorm(x, attn_norm))
    per head h:
      q = rope(xn @ wq_h, xn @ wq_h_rot), k = rope(xn @ wk_h, xn @ wk_h_rot), v = xn @ wv_h
      k_h_new = bf16(k), v_h_new = bf16(v)                  (outputs: the cache append)
      o_h = bf16(decode_attention(q, k_h_new, v_h_new, k_cache_h, v_cache_h)) @ wo_h
    h1  = x + (((o_0 + o_1) + ...) )
    hn  = bf16(rmsnorm(h1, ffn_norm))
    out = h1 + bf16(silu(hn @ w1) * (hn @ w3)) @ w2

Rotary position embedding at position ``t``: ``rope(a, r) = a * cos + r * sin`` with
``cos``, ``sin`` fp32 ``[1, dh]`` inputs (:func:`rope_tables`) and ``r = xn @ w_rot``,
where ``w_rot`` (:func:`rotate_half_weight`) is the weight with its columns rotated
half a head (``[-w2, w1]``, exact in bf16), so ``r`` is ``rotate_half(xn @ w)`` computed
by one more GEMM instead of a lane permutation.
"""

from dataclasses import dataclass

import numpy as np

from .graph import BF16, Graph
from .library import rmsnorm

__all__ = ["DecoderShape", "attention_head", "decode_attention", "decoder_layer", "rope",
           "rotate_half_weight", "rope_tables", "attention_graph", "decoder_graph",
           "derived_inputs", "attention_float64", "decoder_float64"]


@dataclass(frozen=True)
class DecoderShape:
    """Sizes of a decoder layer: model width, heads, head width, feed-forward width,
    cached tokens (the new token's position ``t`` is ``tokens``)."""

    d_model: int = 8
    heads: int = 1
    head_dim: int = 8
    d_ff: int = 16
    tokens: int = 5

    def __post_init__(self):
        for name in ("d_model", "heads", "head_dim", "d_ff", "tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"decoder {name} must be >= 1, not {getattr(self, name)}")
        if self.head_dim % 2:
            raise ValueError(f"decoder head_dim must be even (rotary embedding rotates "
                             f"half a head), not {self.head_dim}")


def decode_attention(g: Graph, q: str, k_new: str, v_new: str, k_cache_t: str, v_cache: str,
                     name: str = "out") -> str:
    """One head's attention output ``[1, dh]`` (the order in the module docstring)."""
    dh = g.tensor(q).shape[1]
    qb = g.to_bf16(g.scale(q, 1.0 / np.sqrt(dh), f"{name}.qs"), f"{name}.qb")
    s_past = g.gemm(qb, k_cache_t, f"{name}.s_past")
    s_new = g.row_sum(g.mul(g.from_bf16(qb, f"{name}.q32"), g.from_bf16(k_new, f"{name}.k32"),
                            f"{name}.qk_new"), f"{name}.s_new")
    m = g.max(g.row_max(s_past, f"{name}.m_past"), s_new, f"{name}.m")
    e_past = g.exp(g.row_sub(s_past, m, f"{name}.d_past"), f"{name}.e_past")
    e_new = g.exp(g.sub(s_new, m, f"{name}.d_new"), f"{name}.e_new")
    total = g.add(g.row_sum(e_past, f"{name}.l_past"), e_new, f"{name}.l")
    o_past = g.gemm(g.to_bf16(e_past, f"{name}.p_past"), v_cache, f"{name}.o_past")
    o_new = g.row_mul(g.from_bf16(v_new, f"{name}.v32"), e_new, f"{name}.o_new")
    o = g.add(o_past, o_new, f"{name}.o")
    return g.row_mul(o, g.reciprocal(total, f"{name}.inv_l"), name)


def rope(g: Graph, xn: str, w: str, cos: str, sin: str, name: str) -> str:
    """``(xn @ w) * cos + (xn @ w_rot) * sin``: rotary embedding of a projection (the
    rotated weight ``<w>_rot`` is a graph input already declared)."""
    a = g.gemm(xn, w, f"{name}.lin")
    r = g.gemm(xn, f"{w}_rot", f"{name}.rot")
    return g.add(g.col_mul(a, cos, f"{name}.cos"), g.col_mul(r, sin, f"{name}.sin"), name)


def attention_head(g: Graph, xn: str, h: int, cos: str, sin: str, shape: DecoderShape,
                   out: str) -> str:
    """Head ``h`` of the layer on the normed ``xn`` (bf16 ``[1, d_model]``): declares its
    weights and K/V cache inputs, outputs ``k<h>_new``, ``v<h>_new``, and returns ``out``,
    its output projection (fp32 ``[1, d_model]``)."""
    d, dh, t = shape.d_model, shape.head_dim, shape.tokens
    for proj in ("wq", "wk"):
        g.input(f"{proj}{h}", (d, dh), BF16, weight=True)
        g.input(f"{proj}{h}_rot", (d, dh), BF16, weight=True)
    q = rope(g, xn, f"wq{h}", cos, sin, f"h{h}.q")
    k_new = g.to_bf16(rope(g, xn, f"wk{h}", cos, sin, f"h{h}.k"), f"k{h}_new")
    v_new = g.to_bf16(g.gemm(xn, g.input(f"wv{h}", (d, dh), BF16, weight=True), f"h{h}.v"),
                      f"v{h}_new")
    att = decode_attention(g, q, k_new, v_new, g.input(f"k_cache{h}", (dh, t), BF16),
                           g.input(f"v_cache{h}", (t, dh), BF16), f"h{h}.att")
    g.output(k_new, v_new)
    return g.gemm(g.to_bf16(att, f"h{h}.att_b"),
                  g.input(f"wo{h}", (dh, d), BF16, weight=True), out)


def decoder_layer(g: Graph, x: str, shape: DecoderShape, name: str = "out") -> str:
    """The decoder layer of the module docstring on ``x [1, d_model]``; declares its
    weights, rope tables and caches as graph inputs and ``k<h>_new``, ``v<h>_new`` as
    outputs (before the layer's own output). Returns the output tensor's name."""
    d, dh, f = shape.d_model, shape.head_dim, shape.d_ff

    def weight(wname, dims, dtype=BF16):
        return g.input(wname, dims, dtype, weight=True)

    xn = g.to_bf16(rmsnorm(g, x, weight("attn_norm", (1, d), "fp32"), "attn.norm"), "attn.xn")
    cos, sin = g.input("cos", (1, dh)), g.input("sin", (1, dh))
    acc = None
    for h in range(shape.heads):
        o_h = attention_head(g, xn, h, cos, sin, shape, f"h{h}.o")
        acc = o_h if acc is None else g.add(acc, o_h, f"attn.o{h}")
    h1 = g.add(x, acc, "h1")
    hn = g.to_bf16(rmsnorm(g, h1, weight("ffn_norm", (1, d), "fp32"), "ffn.norm"), "ffn.hn")
    gate = g.silu(g.gemm(hn, weight("w1", (d, f)), "ffn.h1"), "ffn.gate")
    up = g.gemm(hn, weight("w3", (d, f)), "ffn.h3")
    ff = g.to_bf16(g.mul(gate, up, "ffn.act"), "ffn.act_b")
    return g.add(h1, g.gemm(ff, weight("w2", (f, d)), "ffn.down"), name)


def rotate_half_weight(w: np.ndarray) -> np.ndarray:
    """bf16 bits ``[d, dh]`` -> the weight whose product is ``rotate_half`` of ``w``'s:
    columns ``[-w[:, dh/2:], w[:, :dh/2]]`` (negation flips the sign bit: exact)."""
    w = np.asarray(w, np.uint16)
    half = w.shape[1] // 2
    return np.concatenate([w[:, half:] ^ np.uint16(0x8000), w[:, :half]], axis=1)


def rope_tables(position: int, head_dim: int, base: float = 10000.0):
    """fp32 bits of ``cos`` and ``sin`` ``[1, head_dim]`` at ``position`` (frequencies
    ``base ** (-2i / head_dim)``, each half of the head the same, as ``rotate_half``
    pairs column ``i`` with ``i + head_dim/2``)."""
    half = head_dim // 2
    freqs = base ** (-np.arange(half, dtype=np.float64) * 2.0 / head_dim)
    angles = np.concatenate([freqs, freqs]) * position
    return (np.cos(angles).astype(np.float32).view(np.uint32)[None, :],
            np.sin(angles).astype(np.float32).view(np.uint32)[None, :])


def attention_graph(shape: DecoderShape) -> Graph:
    """Decode attention alone: inputs ``q`` (fp32 ``[1, dh]``), ``k_new``, ``v_new``
    (bf16 ``[1, dh]``), ``k_cache_t`` (bf16 ``[dh, T]``), ``v_cache`` (bf16 ``[T, dh]``)."""
    g = Graph()
    dh, t = shape.head_dim, shape.tokens
    q = g.input("q", (1, dh))
    k_new, v_new = g.input("k_new", (1, dh), BF16), g.input("v_new", (1, dh), BF16)
    g.output(decode_attention(g, q, k_new, v_new, g.input("k_cache_t", (dh, t), BF16),
                              g.input("v_cache", (t, dh), BF16)))
    return g


def decoder_graph(shape: DecoderShape) -> Graph:
    """A decoder layer on ``x`` (fp32 ``[1, d_model]``); outputs the caches' new entries
    ``k<h>_new``, ``v<h>_new`` (bf16 ``[1, head_dim]``) and ``out``."""
    g = Graph()
    g.output(decoder_layer(g, g.input("x", (1, shape.d_model)), shape))
    return g


def derived_inputs(graph: Graph, inputs: dict, shape: DecoderShape) -> dict:
    """``inputs`` with what a decoder graph derives from other inputs replaced: the
    rotated weights ``w*_rot`` from their weights and ``cos``/``sin`` at position
    ``shape.tokens`` (the rest as given)."""
    out = dict(inputs)
    for name in graph.inputs:
        if name.endswith("_rot"):
            out[name] = rotate_half_weight(inputs[name[:-4]])
    if "cos" in graph.inputs:
        out["cos"], out["sin"] = rope_tables(shape.tokens, shape.head_dim)
    return out


def _f64(bits: np.ndarray) -> np.ndarray:
    """fp32 (uint32) or bf16 (uint16) bit patterns as float64 values."""
    bits = np.asarray(bits)
    if bits.dtype == np.uint16:
        bits = bits.astype(np.uint32) << 16
    return np.asarray(bits, np.uint32).view(np.float32).astype(np.float64)


def _attention_f64(q, k_new, v_new, k_cache_t, v_cache):
    keys = np.concatenate([k_cache_t, k_new.T], axis=1)
    values = np.concatenate([v_cache, v_new], axis=0)
    scores = (q / np.sqrt(q.shape[1])) @ keys
    p = np.exp(scores - scores.max(axis=1, keepdims=True))
    return (p / p.sum(axis=1, keepdims=True)) @ values


def attention_float64(inputs: dict) -> np.ndarray:
    """Decode attention in float64 from the same inputs, with no intermediate rounding
    (the accuracy reference, not the bit-exact golden model)."""
    return _attention_f64(*(_f64(inputs[n]) for n in ("q", "k_new", "v_new", "k_cache_t",
                                                       "v_cache")))


def decoder_float64(inputs: dict, shape: DecoderShape, eps: float = 1e-5) -> np.ndarray:
    """The decoder layer in float64 from the same inputs (weights as given, no
    intermediate rounding; the new token's key and value unrounded)."""
    v = {name: _f64(value) for name, value in inputs.items()}

    def rms(x, gamma):
        return x / np.sqrt(np.mean(x * x, axis=1, keepdims=True) + eps) * gamma

    def rope(xn, w):
        return (xn @ v[w]) * v["cos"] + (xn @ v[f"{w}_rot"]) * v["sin"]

    x = v["x"]
    xn = rms(x, v["attn_norm"])
    o = 0.0
    for h in range(shape.heads):
        att = _attention_f64(rope(xn, f"wq{h}"), rope(xn, f"wk{h}"), xn @ v[f"wv{h}"],
                             v[f"k_cache{h}"], v[f"v_cache{h}"])
        o = o + att @ v[f"wo{h}"]
    h1 = x + o
    hn = rms(h1, v["ffn_norm"])
    a = hn @ v["w1"]
    return h1 + ((a / (1.0 + np.exp(-a))) * (hn @ v["w3"])) @ v["w2"]
