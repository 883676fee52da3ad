"""CoE checkpoints: round trip, determinism from the seed, and one clear error per corruption."""

import json
import struct

import ml_dtypes
import numpy as np
import pytest
import safetensors
from safetensors.numpy import save_file

from testbench.coe.errors import ExpertFileError
from testbench.coe.experts import (
    GENERAL,
    ROUTER_FILE,
    Expert,
    expert_categories,
    expert_output,
    load_expert,
    load_experts,
    load_router,
    make_experts,
    write_expert,
)
from testbench.coe.trace import Request
from testbench.golden.numerics import f32_mul
from testbench.golden.systolic import systolic_tile
from testbench.golden.transcendentals import f32_silu

SEEDS = [1, 7]
D, F = 8, 4


@pytest.fixture
def checkpoints(tmp_path):
    return make_experts(tmp_path / "experts", 5, D, F, ("code", "math"), seed=3)


def _header(path) -> tuple[dict, bytes]:
    """The safetensors header and the data section of a file."""
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + length]), data[8 + length:]


def test_round_trip_bf16_storage(checkpoints):
    experts = load_experts(checkpoints[0].parent, D, F)
    assert [e.category for e in experts] == [GENERAL, "code", "math", "code-2", "math-2"]
    assert [e.name for e in experts] == [p.stem for p in checkpoints]
    header, data = _header(checkpoints[1])
    assert header["w1"]["dtype"] == "BF16" and header["w1"]["shape"] == [D, F]
    assert {k: header["__metadata__"][k] for k in ("format", "version", "name", "category")} == {
        "format": "rdu-coe-expert", "version": "1", "name": experts[1].name, "category": "code"}
    # The file stores the expert's bf16 bit patterns little-endian, nothing else.
    start, end = header["w3"]["data_offsets"]
    assert experts[1].w3.dtype == np.uint16 and experts[1].w3.shape == (D, F)
    assert data[start:end] == experts[1].w3.astype("<u2").tobytes()
    # The safetensors library itself reads the file (its numpy loader has no BF16).
    entries = dict(safetensors.deserialize(checkpoints[1].read_bytes()))
    assert sorted(entries) == ["w1", "w3"]
    assert bytes(entries["w1"]["data"]) == experts[1].w1.astype("<u2").tobytes()
    with safetensors.safe_open(str(checkpoints[1]), framework="np") as handle:
        assert handle.metadata()["category"] == "code"
    as_float = experts[1].w3.view(ml_dtypes.bfloat16).astype(np.float32)
    assert np.all(np.isfinite(as_float)) and np.any(as_float != 0)
    router = load_router(checkpoints[0].parent / ROUTER_FILE, D)
    assert router.categories == tuple(e.category for e in experts)
    assert router.weights.shape == (D, 5)


def test_deterministic_from_seed(tmp_path, seed):
    first = make_experts(tmp_path / "a", 3, D, F, seed=seed)
    again = make_experts(tmp_path / "b", 3, D, F, seed=seed)
    other = make_experts(tmp_path / "c", 3, D, F, seed=seed + 1)
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


META = {"format": "rdu-coe-expert", "version": "1", "name": "e", "category": "c"}


def _expect(path, *fragments):
    with pytest.raises(ExpertFileError) as info:
        load_expert(path, D, F)
    assert info.value.path == str(path)
    message = str(info.value)
    assert message.startswith(str(path))
    for fragment in fragments:
        assert fragment in message, message


def test_missing_tensor(tmp_path):
    _expect(_write(tmp_path / "x.safetensors", {"w1": _bf16((D, F))}, META),
            "missing tensor 'w3'")


def test_unexpected_tensor(tmp_path, checkpoints):
    e = load_expert(checkpoints[1], D, F)
    path = _write(tmp_path / "x.safetensors",
                  {"w1": e.w1.view(ml_dtypes.bfloat16), "w3": e.w3.view(ml_dtypes.bfloat16),
                   "w2": _bf16((F, D))}, META)
    _expect(path, "unexpected tensor 'w2'")


def test_wrong_shape(tmp_path, checkpoints):
    expert = load_expert(checkpoints[1], D, F)
    path = write_expert(tmp_path / "x.safetensors",
                        Expert("e", "c", expert.w1, expert.w3[:, :F - 1].copy()))
    _expect(path, "tensor 'w3' has shape", f"[{D}, {F - 1}]", f"expected [{D}, {F}]")


def test_wrong_dtype(tmp_path):
    path = _write(tmp_path / "x.safetensors",
                  {"w1": np.ones((D, F), np.float32), "w3": _bf16((D, F))}, META)
    _expect(path, "tensor 'w1' has dtype F32, expected BF16")


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
    expert = load_expert(checkpoints[1], D, F)
    write_expert(tmp_path / "a.safetensors", expert)
    write_expert(tmp_path / "b.safetensors", expert)
    with pytest.raises(ExpertFileError, match="is also used by"):
        load_experts(tmp_path, D, F)


def test_expert_output_is_swiglu_and_row_independent(checkpoints):
    expert = load_expert(checkpoints[2], D, F)
    rng = np.random.default_rng(8)
    x = (rng.standard_normal((3, D)).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    out = expert_output(expert, x, lanes=4, pmu_depth=64)
    # K = D is one chunk: each GEMM is one systolic tile; silu and the product per element.
    gate = f32_silu(systolic_tile(x, expert.w1))
    assert np.array_equal(out, f32_mul(gate, systolic_tile(x, expert.w3)))
    padded = Request(0, 0, 3, x, "math").padded_x(8)
    assert np.array_equal(expert_output(expert, padded, 4, 64)[:3], out)
