"""One request's decode step: the decoder inputs a request brings and their golden outputs.

A request (:class:`~.trace.Request`, bf16 ``x [m, d]``) is one decode step of its own
sequence. The router classifies all ``m`` rows; the expert decodes the new token, the
request's last row ``x[m - 1]`` widened to fp32 (exact), at position ``T =
shape.tokens`` after ``T`` cached tokens. The K/V cache of each head ``h``
(``k_cache<h>`` bf16 ``[head_dim, T]``, keys transposed; ``v_cache<h>`` bf16 ``[T,
head_dim]``) is standard normal rounded to bf16 to nearest even, drawn from
``numpy.random.default_rng([trace_seed, request id, CACHE_STREAM])``: deterministic per
request, different for every request. ``cos``, ``sin`` are ``rope_tables(T, head_dim)``.
The golden outputs (``k<h>_new``, ``v<h>_new``, ``out``) are
:func:`testbench.compiler.golden.evaluate` of ``decoder_graph(shape)``.

A request that generates several tokens decodes them one after the other
(:func:`next_token_inputs`): the next step's ``x`` is this step's ``out`` (fp32 both),
and every head's cache slides by one token, the oldest dropped and this step's new
key and value appended, so the cache keeps ``T`` tokens and the compiled program its
shape (a sliding window; the rotary tables stay those of position ``T``).
"""

import numpy as np

from testbench.compiler.golden import evaluate
from testbench.compiler.transformer import DecoderShape, decoder_graph, rope_tables
from testbench.golden.numerics import f32_to_bf16

from .experts import Expert, decoder_weights

__all__ = ["CACHE_STREAM", "request_inputs", "next_token_inputs", "decode_outputs",
           "decode_io_bytes"]

#: the third word of a request's cache seed, so the cache's stream is not the trace's
CACHE_STREAM = 0xCAC4E


def request_inputs(request, shape: DecoderShape, trace_seed: int) -> dict:
    """The non-weight inputs of ``decoder_graph(shape)`` for ``request``: ``x``, every
    head's K/V cache, ``cos``, ``sin`` (bit patterns, see the module docstring)."""
    d, dh, t = shape.d_model, shape.head_dim, shape.tokens
    x = np.asarray(request.x, np.uint16)
    if x.ndim != 2 or x.shape[1] != d:
        raise ValueError(f"request {request.id} has x of shape {list(x.shape)}, "
                         f"expected [m, {d}]")
    inputs = {"x": (x[-1:].astype(np.uint32) << 16)}
    rng = np.random.default_rng([trace_seed, request.id, CACHE_STREAM])
    for h in range(shape.heads):
        for name, dims in ((f"k_cache{h}", (dh, t)), (f"v_cache{h}", (t, dh))):
            values = rng.standard_normal(dims).astype(np.float32)
            inputs[name] = np.asarray(f32_to_bf16(values.view(np.uint32)), np.uint16)
    inputs["cos"], inputs["sin"] = rope_tables(t, dh)
    return inputs


def next_token_inputs(inputs: dict, outputs: dict, heads: int) -> dict:
    """The inputs of the decode step after the one that read ``inputs`` and produced
    ``outputs`` (``out``, every head's ``k<h>_new``/``v<h>_new``; see the module
    docstring); other entries (weights, rotary tables) are kept."""
    following = dict(inputs)
    following["x"] = np.asarray(outputs["out"], np.uint32).reshape(inputs["x"].shape)
    for h in range(heads):
        keys, values = inputs[f"k_cache{h}"], inputs[f"v_cache{h}"]
        new_key = np.asarray(outputs[f"k{h}_new"], np.uint16).reshape(-1, 1)
        new_value = np.asarray(outputs[f"v{h}_new"], np.uint16).reshape(1, -1)
        following[f"k_cache{h}"] = np.concatenate([keys[:, 1:], new_key], axis=1)
        following[f"v_cache{h}"] = np.concatenate([values[1:], new_value], axis=0)
    return following


def decode_outputs(expert: Expert, inputs: dict, shape: DecoderShape, lanes: int,
                   pmu_depth: int) -> dict:
    """Golden ``{output: bits}`` of ``expert``'s decoder layer on ``inputs``
    (:func:`request_inputs`), in the order the compiled graph computes on ``lanes`` /
    ``pmu_depth``."""
    graph = decoder_graph(shape)
    values = evaluate(graph, {**inputs, **decoder_weights(expert, shape)}, lanes, pmu_depth)
    return {name: values[name] for name in graph.outputs}


def decode_io_bytes(shape: DecoderShape) -> tuple[int, int]:
    """(bytes a decode step reads besides the weights, bytes it writes): fp32 ``x``, the
    bf16 K/V caches and fp32 ``cos``/``sin`` in; fp32 ``out`` and the bf16 new K/V out."""
    d, dh, heads, t = shape.d_model, shape.head_dim, shape.heads, shape.tokens
    return d * 4 + heads * 2 * t * dh * 2 + 2 * dh * 4, d * 4 + heads * 2 * dh * 2
