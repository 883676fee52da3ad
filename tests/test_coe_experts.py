"""CoE checkpoints of decoder-layer experts: round trip, determinism from the seed, and one
clear error per corruption."""

import json
import struct

import ml_dtypes
import numpy as np
import pytest
import safetensors
from safetensors.numpy import save_file

from testbench.coe.decode_step import decode_outputs, request_inputs
from testbench.coe.errors import ExpertFileError
from testbench.coe.experts import (
    GENERAL,
    ROUTER_FILE,
    Expert,
    decoder_weights,
    expert_categories,
    expert_tensor_shapes,
    load_expert,
    load_experts,
    load_router,
    make_experts,
    write_expert,
)
from testbench.coe.trace import Request
from testbench.compiler.transformer import DecoderShape, decoder_float64, rotate_half_weight

SEEDS = [1, 7]
D, F = 8, 4
SHAPE = DecoderShape(d_model=D, heads=2, head_dim=4, d_ff=F, tokens=3)
TENSORS = ["attn_norm", "ffn_norm", "w1", "w2", "w3", "wk0", "wk1", "wo0", "wo1", "wq0", "wq1",
           "wv0", "wv1"]


@pytest.fixture
def checkpoints(tmp_path):
    return make_experts(tmp_path / "experts", 5, SHAPE, ("code", "math"), seed=3)


def _header(path) -> tuple[dict, bytes]:
    """The safetensors header and the data section of a file."""
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + length]), data[8 + length:]


def test_round_trip_bf16_storage(checkpoints):
    experts = load_experts(checkpoints[0].parent, SHAPE)
    assert [e.category for e in experts] == [GENERAL, "code", "math", "code-2", "math-2"]
    assert [e.name for e in experts] == [p.stem for p in checkpoints]
    assert experts[1].shape == DecoderShape(d_model=D, heads=2, head_dim=4, d_ff=F)
    header, data = _header(checkpoints[1])
    assert sorted(k for k in header if k != "__metadata__") == TENSORS
    assert header["w1"]["dtype"] == "BF16" and header["w1"]["shape"] == [D, F]
    assert header["w2"]["shape"] == [F, D] and header["wo1"]["shape"] == [4, D]
    assert header["attn_norm"]["dtype"] == "F32" and header["attn_norm"]["shape"] == [1, D]
    assert {k: header["__metadata__"][k] for k in ("format", "version", "name", "category")} == {
        "format": "rdu-coe-expert", "version": "2", "name": experts[1].name, "category": "code"}
    # The file stores the expert's bit patterns little-endian, nothing else.
    w3 = experts[1].weights["w3"]
    start, end = header["w3"]["data_offsets"]
    assert w3.dtype == np.uint16 and w3.shape == (D, F)
    assert data[start:end] == w3.astype("<u2").tobytes()
    gains = experts[1].weights["ffn_norm"]
    start, end = header["ffn_norm"]["data_offsets"]
    assert gains.dtype == np.uint32 and data[start:end] == gains.astype("<u4").tobytes()
    # The safetensors library itself reads the file (its numpy loader has no BF16).
    entries = dict(safetensors.deserialize(checkpoints[1].read_bytes()))
    assert sorted(entries) == TENSORS
    assert bytes(entries["w1"]["data"]) == experts[1].weights["w1"].astype("<u2").tobytes()
    with safetensors.safe_open(str(checkpoints[1]), framework="np") as handle:
        assert handle.metadata()["category"] == "code"
        assert np.array_equal(handle.get_tensor("attn_norm").view(np.uint32),
                              experts[1].weights["attn_norm"])
    as_float = w3.view(ml_dtypes.bfloat16).astype(np.float32)
    assert np.all(np.isfinite(as_float)) and np.any(as_float != 0)
    assert not np.array_equal(experts[1].weights["wq0"], experts[1].weights["wq1"])
    router = load_router(checkpoints[0].parent / ROUTER_FILE, D)
    assert router.categories == tuple(e.category for e in experts)
    assert router.weights.shape == (D, 5)


def test_deterministic_from_seed(tmp_path, seed):
    first = make_experts(tmp_path / "a", 3, SHAPE, seed=seed)
    again = make_experts(tmp_path / "b", 3, SHAPE, seed=seed)
    other = make_experts(tmp_path / "c", 3, SHAPE, seed=seed + 1)
    for a, b, c in zip(first, again, other, strict=True):
        assert a.read_bytes() == b.read_bytes()
        assert a.read_bytes() != c.read_bytes()
    assert ((tmp_path / "a" / ROUTER_FILE).read_bytes()
            == (tmp_path / "b" / ROUTER_FILE).read_bytes())


def test_categories_reject_general_and_duplicates():
    with pytest.raises(ValueError, match="distinct"):
        expert_categories(3, ("general", "code"))
    with pytest.raises(ValueError, match="distinct"):
        expert_categories(3, ("code", "code"))


def _write(path, tensors: dict, metadata: dict):
    save_file(tensors, str(path), metadata=metadata)
    return path


def _bf16(shape):
    return np.ones(shape, np.float32).astype(ml_dtypes.bfloat16)


META = {"format": "rdu-coe-expert", "version": "2", "name": "e", "category": "c"}


def _as_saved(expert: Expert) -> dict:
    """The expert's tensors as the safetensors numpy writer takes them."""
    return {name: w.view(ml_dtypes.bfloat16) if w.dtype == np.uint16 else w.view(np.float32)
            for name, w in expert.weights.items()}


def _expect(path, *fragments):
    with pytest.raises(ExpertFileError) as info:
        load_expert(path, SHAPE)
    assert info.value.path == str(path)
    message = str(info.value)
    assert message.startswith(str(path))
    for fragment in fragments:
        assert fragment in message, message


def test_missing_tensor(tmp_path, checkpoints):
    tensors = _as_saved(load_expert(checkpoints[1], SHAPE))
    del tensors["wv1"]
    _expect(_write(tmp_path / "x.safetensors", tensors, META), "missing tensor 'wv1'")


def test_unexpected_tensor(tmp_path, checkpoints):
    tensors = _as_saved(load_expert(checkpoints[1], SHAPE))
    # The rotated weights are derived at load, never stored.
    tensors["wq0_rot"] = tensors["wq0"]
    _expect(_write(tmp_path / "x.safetensors", tensors, META), "unexpected tensor 'wq0_rot'")


def test_wrong_shape(tmp_path, checkpoints):
    expert = load_expert(checkpoints[1], SHAPE)
    weights = {**expert.weights, "w2": expert.weights["w2"][:F - 1].copy()}
    path = write_expert(tmp_path / "x.safetensors", Expert("e", "c", weights))
    _expect(path, "tensor 'w2' has shape", f"[{F - 1}, {D}]", f"expected [{F}, {D}]")


def test_checkpoint_of_another_architecture(checkpoints):
    """One head fewer than the session's shape: the missing head's weights are named."""
    with pytest.raises(ExpertFileError, match="unexpected tensor 'wk1'"):
        load_expert(checkpoints[1], DecoderShape(d_model=D, heads=1, head_dim=4, d_ff=F))


def test_wrong_dtype(tmp_path, checkpoints):
    tensors = _as_saved(load_expert(checkpoints[1], SHAPE))
    tensors["w1"] = np.ones((D, F), np.float32)
    _expect(_write(tmp_path / "x.safetensors", tensors, META),
            "tensor 'w1' has dtype F32, expected BF16")
    tensors = _as_saved(load_expert(checkpoints[1], SHAPE))
    tensors["attn_norm"] = _bf16((1, D))
    _expect(_write(tmp_path / "y.safetensors", tensors, META),
            "tensor 'attn_norm' has dtype BF16, expected F32")


def test_old_format_version(tmp_path, checkpoints):
    tensors = _as_saved(load_expert(checkpoints[1], SHAPE))
    _expect(_write(tmp_path / "x.safetensors", tensors, {**META, "version": "1"}),
            "version '1' is not supported (expected '2')")


def test_truncated_file(tmp_path, checkpoints):
    path = tmp_path / "x.safetensors"
    path.write_bytes(checkpoints[1].read_bytes()[:-7])
    _expect(path, "corrupted or truncated")


def test_garbage_header(tmp_path, checkpoints):
    data = bytearray(checkpoints[1].read_bytes())
    data[8:12] = b"\xff\xfe\x00{"
    path = tmp_path / "x.safetensors"
    path.write_bytes(bytes(data))
    _expect(path, "corrupted or truncated")


def test_flipped_data_bit(tmp_path, checkpoints):
    data = bytearray(checkpoints[1].read_bytes())
    data[-3] ^= 0x10
    path = tmp_path / "x.safetensors"
    path.write_bytes(bytes(data))
    _expect(path, "tensor data corrupted")


def test_not_an_expert_file(tmp_path, checkpoints):
    _expect(checkpoints[0].parent / ROUTER_FILE, "format is 'rdu-coe-router'",
            "expected 'rdu-coe-expert'")
    path = _write(tmp_path / "x.safetensors", {"w1": _bf16((D, F)), "w3": _bf16((D, F))}, {})
    _expect(path, "metadata has no 'format'")


def test_unreadable_file(tmp_path):
    _expect(tmp_path / "absent.safetensors", "cannot read the file")


def test_router_wrong_width(checkpoints):
    with pytest.raises(ExpertFileError, match=r"tensor 'router' has shape \[8, 5\], expected "
                                              r"\[16, 5\]"):
        load_router(checkpoints[0].parent / ROUTER_FILE, 16)


def test_duplicate_expert_names(tmp_path, checkpoints):
    expert = load_expert(checkpoints[1], SHAPE)
    write_expert(tmp_path / "a.safetensors", expert)
    write_expert(tmp_path / "b.safetensors", expert)
    with pytest.raises(ExpertFileError, match="is also used by"):
        load_experts(tmp_path, SHAPE)


def test_tensor_shapes_of_the_architecture():
    shapes = expert_tensor_shapes(SHAPE)
    assert sorted(shapes) == TENSORS
    assert shapes["wq1"] == ((D, 4), "BF16") and shapes["wo0"] == ((4, D), "BF16")
    assert shapes["ffn_norm"] == ((1, D), "F32") and shapes["w2"] == ((F, D), "BF16")


def test_decoder_weights_derive_the_rotated_weights(checkpoints):
    expert = load_expert(checkpoints[2], SHAPE)
    weights = decoder_weights(expert, SHAPE)
    assert sorted(weights) == sorted(TENSORS + ["wq0_rot", "wq1_rot", "wk0_rot", "wk1_rot"])
    assert np.array_equal(weights["wk1_rot"], rotate_half_weight(expert.weights["wk1"]))
    assert np.array_equal(weights["wk1_rot"][:, 2:], expert.weights["wk1"][:, :2])


def test_decode_step_golden_is_close_to_float64(checkpoints):
    """The bit-exact golden decode step of a request agrees with the float64 decoder layer
    to bf16 accuracy, and depends on the expert and on the request's own cache."""
    experts = [load_expert(p, SHAPE) for p in checkpoints[1:3]]
    rng = np.random.default_rng(8)
    x = (rng.standard_normal((3, D)).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    request = Request(4, 4, 3, x, "math")
    inputs = request_inputs(request, SHAPE, trace_seed=9)
    got = decode_outputs(experts[0], inputs, SHAPE, lanes=4, pmu_depth=64)
    assert sorted(got) == ["k0_new", "k1_new", "out", "v0_new", "v1_new"]
    assert got["out"].shape == (1, D) and got["k1_new"].dtype == np.uint16
    reference = decoder_float64({**inputs, **decoder_weights(experts[0], SHAPE)}, SHAPE)
    out = got["out"].view(np.float32).astype(np.float64)
    assert np.max(np.abs(out - reference)) / np.max(np.abs(reference)) < 5e-2
    other = decode_outputs(experts[1], inputs, SHAPE, lanes=4, pmu_depth=64)
    assert not np.array_equal(other["out"], got["out"])
    later = request_inputs(Request(5, 5, 3, x, "math"), SHAPE, trace_seed=9)
    assert not np.array_equal(decode_outputs(experts[0], later, SHAPE, 4, 64)["out"],
                              got["out"])
