"""The decoder layer's golden model against an independent float64 Llama layer.

The compiler's decoder golden (testbench/compiler: ``evaluate`` of the graph the compiler
also compiles) is what the RTL is compared with bit for bit; its float64 check beside the
RTL tests shared the graph's conventions and allowed 5% of the largest output.
testbench/golden/llama_reference.py writes the layer from its definition instead, and
bounds the distance element by element (the derivation is in its docstring):

* ``out``: :func:`~testbench.golden.llama_reference.output_bound`, 1.1 times the
  first-order bound of the bfloat16 roundings (sensitivities ``S`` to each rounded
  element; errors independent and uniform within half an ulp, so sub-Gaussian: the bound
  is exceeded with probability below 1e-8 per element; the 10% covers the first-order
  model, which must be off by less at these inputs or the bound refuses), plus a worst
  case of the binary32 and transcendental errors;
* the new cache entries ``k<h>_new``, ``v<h>_new``: a worst case (one rounding after a
  short chain).

Inputs: the project's (``random_inputs``: standard normal weights, as the RTL tests use)
and Llama-scaled ones (weights of variance 1/fan-in, norm gains near 1). With the
project's the layer is badly conditioned (softmax over large scores): the golden's error
reaches a few percent of the largest output, and the bound follows it. With the scaled
ones the bound is below 5% of the largest output (asserted).

Also: the reference agrees with the project's own float64 model (which reads the
binary32 rotary tables), and the tensor-parallel split's golden is within the rigorous
summation-order bound of the single-socket golden (no RTL here; the RTL test asserts the
same bound).
"""

import numpy as np
import pytest

from hdl.rdu.config import rdu_params
from hdl.system.config import SystemParams
from testbench.compiler import evaluate
from testbench.compiler.graph import BF16
from testbench.compiler.library import random_inputs
from testbench.compiler.transformer import (
    DecoderShape,
    decoder_float64,
    decoder_graph,
    derived_inputs,
)
from testbench.golden import llama_reference as ref
from testbench.system.tp_decoder import TPDecoder

SMALL = rdu_params("small")
COMPILER_TEST_SHAPE = DecoderShape(d_model=7, heads=1, head_dim=6, d_ff=10, tokens=5)
TP_SHAPE = DecoderShape(d_model=8, heads=4, head_dim=4, d_ff=8, tokens=3)


def _f64(bits) -> np.ndarray:
    bits = np.asarray(bits)
    if bits.dtype == np.uint16:
        bits = bits.astype(np.uint32) << 16
    return np.asarray(bits, np.uint32).view(np.float32).astype(np.float64)


def _scaled_inputs(graph, shape: DecoderShape, rng) -> dict:
    """Llama-like magnitudes: projections N(0, 1/fan_in), norm gains 1 + N(0, 0.01),
    activations and caches N(0, 1); bf16 inputs rounded to nearest."""
    fan_in = {"wq": shape.d_model, "wk": shape.d_model, "wv": shape.d_model,
              "w1": shape.d_model, "w3": shape.d_model, "wo": shape.head_dim,
              "w2": shape.d_ff}
    inputs = {}
    for name in graph.inputs:
        tensor = graph.tensors[name]
        value = rng.standard_normal(tensor.shape)
        if name.endswith("_norm"):
            value = 1 + 0.1 * value
        elif name.rstrip("0123456789") in fan_in:
            value = value / np.sqrt(fan_in[name.rstrip("0123456789")])
        if tensor.dtype == BF16:
            inputs[name] = (ref.round_bf16(value).astype(np.float32).view(np.uint32)
                            >> 16).astype(np.uint16)
        else:
            inputs[name] = value.astype(np.float32).view(np.uint32)
    return derived_inputs(graph, inputs, shape)


def _inputs(kind: str, shape: DecoderShape, seed: int) -> dict:
    graph = decoder_graph(shape)
    rng = np.random.default_rng(seed)
    if kind == "project":
        return derived_inputs(graph, random_inputs(graph, rng, hard=0.0), shape)
    return _scaled_inputs(graph, shape, rng)


def _bounds(inputs: dict, shape: DecoderShape, seed: int):
    """(trace, out bound, cache-entry bounds) for the layer on ``inputs``."""
    x, w, k_cache, v_cache = ref.weights_from_bits(inputs, shape.heads)
    trace, bound = ref.output_bound(x, w, k_cache, v_cache, shape.tokens,
                                    rng=np.random.default_rng(seed))
    return trace, bound, ref.cache_entry_bound(trace, w)


CASES = ([("project", COMPILER_TEST_SHAPE, seed) for seed in range(1, 6)]
         + [("project", DecoderShape(), seed) for seed in (1, 2, 3)]
         + [("project", TP_SHAPE, seed) for seed in (1, 2, 3)]
         + [("project", DecoderShape(d_model=16, heads=2, head_dim=8, d_ff=32, tokens=12), 1)]
         + [("scaled", shape, seed) for seed in (1, 2, 3) for shape in (
             COMPILER_TEST_SHAPE, DecoderShape(),
             DecoderShape(d_model=16, heads=2, head_dim=8, d_ff=32, tokens=12),
             DecoderShape(d_model=32, heads=4, head_dim=8, d_ff=64, tokens=16))])


def _case_id(case):
    kind, s, seed = case
    return f"{kind}-D{s.d_model}H{s.heads}dh{s.head_dim}F{s.d_ff}T{s.tokens}-seed{seed}"


@pytest.mark.parametrize("kind, shape, input_seed", CASES, ids=[_case_id(c) for c in CASES])
def test_golden_decoder_within_the_rounding_bound(kind, shape, input_seed):
    inputs = _inputs(kind, shape, input_seed)
    golden = evaluate(decoder_graph(shape), inputs, SMALL.lanes, SMALL.pmu_depth)
    trace, bound, cache = _bounds(inputs, shape, input_seed)
    error = np.abs(_f64(golden["out"])[0] - trace.out)
    worst_at = int(np.argmax(error / bound))
    assert (error <= bound).all(), (
        f"out[{worst_at}]: golden {_f64(golden['out'])[0][worst_at]!r}, reference "
        f"{trace.out[worst_at]!r}, error {error[worst_at]:.3e} > bound {bound[worst_at]:.3e}")
    for h in range(shape.heads):
        for name, exact in (("k", trace.k[h]), ("v", trace.v[h])):
            got = _f64(golden[f"{name}{h}_new"])[0]
            assert (np.abs(got - exact) <= cache[name][h]).all(), f"{name}{h}_new: {got - exact}"
    if kind == "scaled":
        largest = np.abs(trace.out).max()
        assert bound.max() < 0.05 * largest, f"bound {bound.max() / largest:.3f} of max |out|"


def test_reference_agrees_with_the_projects_float64_model():
    """The two float64 models differ only in the rotary tables (the project's reads the
    binary32 ones): within the worst-case bound of binary32 errors alone."""
    for shape in (COMPILER_TEST_SHAPE, TP_SHAPE, DecoderShape()):
        for seed in (1, 2):
            inputs = _inputs("project", shape, seed)
            x, w, k_cache, v_cache = ref.weights_from_bits(inputs, shape.heads)
            trace = ref.decoder_layer(x, w, k_cache, v_cache, shape.tokens)
            tables_only = ref.Rounding(bf16=0.0, transcendental=0.0)
            bound = ref.error_bound(trace, w, k_cache, v_cache, tables_only)
            theirs = decoder_float64(inputs, shape)[0]
            assert (np.abs(theirs - trace.out) <= bound).all(), (shape, seed)


def _ffn_values(single: dict) -> dict:
    values = ref.ffn_values_from_bits(single)
    # the bfloat16 rounding the bound models is the one the golden applies
    assert np.array_equal(ref.round_bf16(values["norm"]), values["hn"])
    assert np.array_equal(ref.round_bf16(values["act"]), values["ff"])
    return values


@pytest.mark.parametrize("sockets, shape", [
    (2, TP_SHAPE), (4, DecoderShape(d_model=8, heads=4, head_dim=4, d_ff=12, tokens=3)),
    (2, DecoderShape(d_model=8, heads=2, head_dim=4, d_ff=10, tokens=4))])
def test_tensor_parallel_golden_within_the_summation_order_bound(sockets, shape):
    system = SystemParams(sockets=sockets)
    rdu = system.socket_rdu(0)
    tp = TPDecoder(system, shape)
    graph = decoder_graph(shape)
    for seed in range(1, 5):
        inputs = _inputs("project", shape, seed)
        split = _f64(tp.golden(inputs)["res"][0]["out"])[0]
        single = evaluate(graph, inputs, rdu.lanes, rdu.pmu_depth)
        _, w, _, _ = ref.weights_from_bits(inputs, shape.heads)
        order_bound = ref.summation_order_bound(
            ref.head_outputs_from_bits(single, shape.heads), _ffn_values(single), w)
        difference = np.abs(split - _f64(single["out"])[0])
        assert (difference <= order_bound).all(), (seed, difference, order_bound)
        trace, bound, _ = _bounds(inputs, shape, seed)
        assert (np.abs(split - trace.out) <= bound).all(), seed
