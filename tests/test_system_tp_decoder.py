"""Tensor-parallel decoder layer across sockets, bit-exact (testbench/system/tp_decoder.py).

Heads split across sockets (socket s runs heads h with h % S == s), feed-forward
columns of w1/w3 and the matching rows of w2 split; per socket an attention graph,
the ring AllReduce of the attention partials, a feed-forward graph, the ring
AllReduce of the down-projection partials and a residual graph. Checked bit for bit
on every socket: the attention and down-projection partials against the compiler's
golden model of that socket's graphs, the final output (every socket's the same)
against the golden that combines the partials in the AllReduce's documented order,
and every head's new K/V cache entries against both the shard's golden and the
single-socket layer's. The difference to the single-socket layer and to float64 is
printed as the split's accuracy figure and asserted within bounds derived in
testbench/golden/llama_reference.py. The hosts' AXI channels pause at random
(seeded); each Runtime's cycle budget is the watchdog; the meshes' credit checkers
and the links' checkers run throughout.
"""

import numpy as np
import pytest
from system_common import check_bits, check_links

from hdl.system.config import SystemParams
from testbench.compiler import evaluate
from testbench.compiler.library import random_inputs
from testbench.compiler.transformer import (
    DecoderShape,
    decoder_float64,
    decoder_graph,
    derived_inputs,
)
from testbench.golden.llama_reference import (
    ffn_values_from_bits,
    head_outputs_from_bits,
    output_bound,
    summation_order_bound,
    weights_from_bits,
)
from testbench.system.tp_decoder import (
    TPDecoder,
    attention_shard_graph,
    socket_heads,
)


def _as_f64(bits):
    return np.asarray(bits, np.uint32).view(np.float32).astype(np.float64)


def _relative_error(bits, reference):
    return float(np.max(np.abs(_as_f64(bits) - reference)) / np.max(np.abs(reference)))


def _run(sockets, shape, seed, run_name, waves, orchestration="software"):
    system = SystemParams(sockets=sockets)
    rdu = system.socket_rdu(0)
    graph = decoder_graph(shape)
    rng = np.random.default_rng(seed)
    inputs = derived_inputs(graph, random_inputs(graph, rng, hard=0.0), shape)
    tp = TPDecoder(system, shape, orchestration=orchestration)
    script = tp.script(inputs)
    result = script.run(run_name=run_name, seed=seed, waves=waves, host_stall=0.2,
                         timeout_cycles=400_000)
    got = tp.collect(result)
    want = tp.golden(inputs)
    single = evaluate(graph, inputs, rdu.lanes, rdu.pmu_depth)
    for s in range(sockets):
        if orchestration == "software":
            check_bits(got.partials[s], want["attn"][s]["partial"],
                       f"socket {s} attention partial")
            check_bits(got.downs[s], want["ffn"][s]["down"], f"socket {s} down-projection partial")
        else:  # read after the layer: the regions hold the AllReduces' results
            check_bits(got.partials[s], want["o"], f"socket {s} AllReduced attention")
            check_bits(got.downs[s], want["down"], f"socket {s} AllReduced down-projection")
        check_bits(got.outputs[s], want["res"][s]["out"], f"socket {s} out")
        check_bits(got.outputs[s], got.outputs[0], f"socket {s} out vs socket 0's")
        assert sorted(got.kv[s]) == sorted(f"{kv}{h}_new" for h in tp.heads[s] for kv in "kv")
        for name, value in got.kv[s].items():
            check_bits(value, want["attn"][s][name], f"socket {s} {name}")
            check_bits(value, single[name], f"socket {s} {name} vs the single-socket layer")
    check_links(result)

    out = got.outputs[0]
    reference = decoder_float64(inputs, shape)
    vs_single = np.abs(_as_f64(out) - _as_f64(single["out"]))
    tp_error = _relative_error(out, reference)
    single_error = _relative_error(single["out"], reference)
    print(f"TP decoder {shape} on {sockets} sockets, {orchestration} orchestration (heads "
          f"{tp.heads}, d_ff slices "
          f"{[len(r) for r in tp.ff_ranges]}): cycles per phase {got.phase_cycles}; "
          f"host cycles per socket {got.socket_cycles}; launches {got.launches}; "
          f"vs single-socket layer: {int((out != single['out']).sum())} of {out.size} words "
          f"differ, max |diff| {vs_single.max():.3e} (max |out| "
          f"{np.abs(_as_f64(single['out'])).max():.3e}); max error vs float64 (of the "
          f"largest output): TP {tp_error:.2e}, single-socket {single_error:.2e}")
    # Derived bounds (testbench/golden/llama_reference.py): the split shares the heads'
    # outputs and every rounding point with the single-socket layer and only sums in other
    # orders; and it is within the bfloat16 rounding bound of the float64 Llama layer.
    x, weights, k_cache, v_cache = weights_from_bits(inputs, shape.heads)
    order_bound = summation_order_bound(head_outputs_from_bits(single, shape.heads),
                                        ffn_values_from_bits(single), weights)
    assert (vs_single <= order_bound).all(), (
        f"TP vs single-socket |diff| {vs_single} exceeds the summation-order bound "
        f"{order_bound}")
    layer, bound = output_bound(x, weights, k_cache, v_cache, shape.tokens)
    off = np.abs(_as_f64(out)[0] - layer.out)
    assert (off <= bound).all(), f"TP out vs the float64 layer: |error| {off} > bound {bound}"


def test_heads_and_ffn_columns_are_split_megatron_style():
    assert [socket_heads(4, 2, s) for s in range(2)] == [[0, 2], [1, 3]]
    shape = DecoderShape(d_model=8, heads=4, head_dim=4, d_ff=10, tokens=3)
    tp = TPDecoder(SystemParams(sockets=2), shape)
    assert [len(r) for r in tp.ff_ranges] == [5, 5]
    attn = tp.compiled[1]["attn"].graph
    assert attn.outputs == ["k1_new", "v1_new", "k3_new", "v3_new", "partial"]
    assert "wq0" not in attn.inputs and "wq3" in attn.inputs
    rng = np.random.default_rng(2)
    graph = decoder_graph(shape)
    inputs = derived_inputs(graph, random_inputs(graph, rng, hard=0.0), shape)
    local = tp.socket_inputs(1, inputs)
    assert np.array_equal(local["w1"], inputs["w1"][:, 5:])
    assert np.array_equal(local["w2"], inputs["w2"][5:, :])
    with pytest.raises(ValueError, match="3 heads cannot be split evenly over 2 sockets"):
        TPDecoder(SystemParams(sockets=2), DecoderShape(d_model=8, heads=3, head_dim=4))
    with pytest.raises(ValueError, match="d_model = 6 is not a multiple"):
        TPDecoder(SystemParams(sockets=2), DecoderShape(d_model=6, heads=2, head_dim=4))
    with pytest.raises(ValueError, match="at least one head"):
        attention_shard_graph(shape, [])


def test_tp_decoder_two_sockets_bit_exact(seed, run_name, waves):
    """Two heads per socket, so each socket's partial is a sum and the AllReduce's order
    is not the single-socket layer's."""
    _run(2, DecoderShape(d_model=8, heads=4, head_dim=4, d_ff=8, tokens=3), seed, run_name,
         waves)


def test_tp_decoder_two_sockets_one_schedule_each_bit_exact(seed, run_name, waves):
    """Hardware-orchestrated: each socket runs the whole layer, AllReduces included, as one
    AGCU schedule with no host barrier inside it."""
    _run(2, DecoderShape(d_model=8, heads=4, head_dim=4, d_ff=8, tokens=3), seed, run_name,
         waves, "hardware")


# The 4-socket build takes 4-10 minutes: it runs in `make regress`.
@pytest.mark.regress
@pytest.mark.parametrize("orchestration", ["software", "hardware"])
def test_tp_decoder_four_sockets_bit_exact(orchestration, seed, run_name, waves):
    _run(4, DecoderShape(d_model=8, heads=4, head_dim=4, d_ff=12, tokens=3), seed, run_name,
         waves, orchestration)


@pytest.mark.regress
def test_tp_decoder_two_sockets_one_head_each_bit_exact(seed, run_name, waves):
    """One head per socket, feed-forward width not a multiple of the lanes."""
    _run(2, DecoderShape(d_model=8, heads=2, head_dim=4, d_ff=10, tokens=4), seed, run_name,
         waves)
