"""Expert and router checkpoints in safetensors files, generated from a seed, validated on load.

An expert is one Llama-style decoder layer (:mod:`testbench.compiler.transformer`):
every expert has the same architecture (a :class:`DecoderShape`: model width ``d``,
``heads`` heads of ``head_dim``, feed-forward width ``d_ff``), its own weights and a
category label. Its file holds exactly the tensors of :func:`expert_tensor_shapes`:
``attn_norm``, ``ffn_norm`` fp32 ``[1, d]`` (safetensors ``F32``); per head ``h``
``wq<h>``, ``wk<h>``, ``wv<h>`` bf16 ``[d, head_dim]`` and ``wo<h>`` bf16 ``[head_dim, d]``;
``w1``, ``w3`` bf16 ``[d, d_ff]`` and ``w2`` bf16 ``[d_ff, d]`` (``BF16``). The rotated
weights ``wq<h>_rot``, ``wk<h>_rot`` the compiled graph also reads are derived at load
(:func:`decoder_weights`), not stored. Metadata: ``{"format": "rdu-coe-expert",
"version": "2", "name", "category", "sha256"}`` (version 1 was the SwiGLU-only expert).
The router file holds ``router`` bf16 ``[d, C]`` and the metadata ``{"format":
"rdu-coe-router", "version": "1", "categories": JSON list of the C names, "sha256"}``.
``sha256`` is the hex digest of the tensors' raw bytes in tensor-name order, so a
flipped bit in the data is found even though the file still parses.

In memory every tensor is its bit pattern (``uint16`` bf16, ``uint32`` fp32), as
everywhere in the project. Expert ``0`` has the category ``general`` (the router's low-confidence
fallback); expert ``i >= 1`` takes ``categories[(i - 1) % len(categories)]``, with
``-2``, ``-3``, ... appended on later rounds, so every expert has its own category.
"""

import hashlib
import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import safetensors

from testbench.compiler.transformer import DecoderShape, decoder_graph, derived_inputs
from testbench.golden.numerics import f32_to_bf16

from .errors import ExpertFileError

__all__ = ["EXPERT_FORMAT", "ROUTER_FORMAT", "EXPERT_VERSION", "ROUTER_VERSION", "GENERAL",
           "DEFAULT_CATEGORIES", "ROUTER_FILE", "Expert", "RouterCheckpoint",
           "expert_categories", "make_experts", "write_expert", "write_router", "load_expert",
           "load_experts", "load_router", "expert_tensor_shapes", "decoder_weights"]

EXPERT_FORMAT, ROUTER_FORMAT = "rdu-coe-expert", "rdu-coe-router"
EXPERT_VERSION, ROUTER_VERSION = "2", "1"
GENERAL = "general"
DEFAULT_CATEGORIES = ("code", "math", "law", "medicine", "finance", "science", "writing",
                      "translation")
ROUTER_FILE = "router.safetensors"
_SAFETENSORS_DTYPE = {np.dtype(np.uint16): "BF16", np.dtype(np.uint32): "F32"}
_NUMPY_DTYPE = {"BF16": np.dtype("<u2"), "F32": np.dtype("<u4")}


def expert_tensor_shapes(shape: DecoderShape) -> dict:
    """``{tensor name: (dims, safetensors dtype)}`` of an expert checkpoint of ``shape``
    (``shape.tokens``, the cache length of a session, plays no part)."""
    d, dh, f = shape.d_model, shape.head_dim, shape.d_ff
    tensors = {"attn_norm": ((1, d), "F32"), "ffn_norm": ((1, d), "F32")}
    for h in range(shape.heads):
        for proj in ("wq", "wk", "wv"):
            tensors[f"{proj}{h}"] = ((d, dh), "BF16")
        tensors[f"wo{h}"] = ((dh, d), "BF16")
    tensors.update(w1=((d, f), "BF16"), w3=((d, f), "BF16"), w2=((f, d), "BF16"))
    return tensors


@dataclass(frozen=True, eq=False)
class Expert:
    """One loaded expert: its name, category and stored weights ``{name: bits}``
    (:func:`expert_tensor_shapes`; bf16 as uint16, fp32 as uint32)."""

    name: str
    category: str
    weights: dict

    @property
    def nbytes(self) -> int:
        """Bytes of its stored weights."""
        return int(sum(w.nbytes for w in self.weights.values()))

    @property
    def shape(self) -> DecoderShape:
        """Its decoder shape (``tokens`` left at the default: a session sets it)."""
        w1, wq0 = self.weights["w1"], self.weights["wq0"]
        heads = sum(1 for name in self.weights if name.startswith("wq"))
        return DecoderShape(d_model=w1.shape[0], heads=heads, head_dim=wq0.shape[1],
                            d_ff=w1.shape[1])


@dataclass(frozen=True, eq=False)
class RouterCheckpoint:
    """The router classifier: bf16 weights ``[d, C]`` (uint16 bits) and the C category names."""

    weights: np.ndarray
    categories: tuple

    @property
    def nbytes(self) -> int:
        return int(self.weights.nbytes)


def expert_categories(count: int, categories=DEFAULT_CATEGORIES) -> list[str]:
    """The category of each of ``count`` experts (see the module docstring)."""
    if count < 1:
        raise ValueError(f"need at least one expert, not {count}")
    categories = list(categories)
    if not categories and count > 1:
        raise ValueError("need at least one category besides 'general'")
    if GENERAL in categories or len(set(categories)) != len(categories):
        raise ValueError(f"categories must be distinct and must not include {GENERAL!r}")
    names = [GENERAL]
    for i in range(count - 1):
        base, round_ = categories[i % len(categories)], i // len(categories)
        names.append(base if round_ == 0 else f"{base}-{round_ + 1}")
    return names


def _bf16_normal(rng, shape, scale: float) -> np.ndarray:
    values = (rng.standard_normal(shape) * scale).astype(np.float32)
    return np.asarray(f32_to_bf16(values.view(np.uint32)), np.uint16)


def _digest(tensors: dict) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        h.update(np.ascontiguousarray(tensors[name]).tobytes())
    return h.hexdigest()


def _save(path: Path, tensors: dict, metadata: dict) -> None:
    """Write a safetensors file byte for byte reproducibly: the ``safetensors`` writer
    orders the metadata by hash, so the header (sorted keys, space-padded to a multiple
    of 8 as the format asks) is written here and the library only reads files."""
    header = {"__metadata__": {**metadata, "sha256": _digest(tensors)}}
    blobs, offset = [], 0
    for name in sorted(tensors):
        dtype = _SAFETENSORS_DTYPE[np.asarray(tensors[name]).dtype]
        blob = np.ascontiguousarray(tensors[name], dtype=_NUMPY_DTYPE[dtype]).tobytes()
        header[name] = {"dtype": dtype, "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def write_expert(path, expert: Expert) -> Path:
    """Write ``expert`` as a checkpoint file at ``path``."""
    path = Path(path)
    _save(path, dict(expert.weights),
          {"format": EXPERT_FORMAT, "version": EXPERT_VERSION, "name": expert.name,
           "category": expert.category})
    return path


def write_router(path, router: RouterCheckpoint) -> Path:
    """Write ``router`` as a checkpoint file at ``path``."""
    path = Path(path)
    _save(path, {"router": router.weights},
          {"format": ROUTER_FORMAT, "version": ROUTER_VERSION,
           "categories": json.dumps(list(router.categories))})
    return path


def _random_weights(rng, shape: DecoderShape) -> dict:
    """Standard normal scaled by ``1/sqrt(fan-in)``, rounded to bf16 to nearest even;
    the norms' gains ``1 + 0.1 N(0, 1)`` in fp32."""
    weights = {}
    for name, (dims, dtype) in expert_tensor_shapes(shape).items():
        if dtype == "F32":
            gains = (1.0 + 0.1 * rng.standard_normal(dims)).astype(np.float32)
            weights[name] = gains.view(np.uint32)
        else:
            weights[name] = _bf16_normal(rng, dims, dims[0] ** -0.5)
    return weights


def make_experts(directory, count: int, shape: DecoderShape, categories=DEFAULT_CATEGORIES,
                 seed: int = 1) -> list[Path]:
    """Write ``count`` decoder-layer experts of ``shape`` and ``router.safetensors``
    (bf16 ``[d, count]``, standard normal scaled by ``1/sqrt(d)``) into ``directory``.

    Deterministic from ``seed`` (expert ``i`` from ``[seed, i]``, see
    :func:`_random_weights`). Returns the expert files in expert order (file names
    ``expertNN-<category>.safetensors``)."""
    d = shape.d_model
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    names = expert_categories(count, categories)
    width = max(2, len(str(count - 1)))
    paths = []
    for i, category in enumerate(names):
        rng = np.random.default_rng([seed, i])
        expert = Expert(f"expert{i:0{width}d}-{category}", category,
                        _random_weights(rng, shape))
        paths.append(write_expert(directory / f"{expert.name}.safetensors", expert))
    rng = np.random.default_rng([seed, 1 << 20])
    write_router(directory / ROUTER_FILE,
                 RouterCheckpoint(_bf16_normal(rng, (d, count), d ** -0.5), tuple(names)))
    return paths


def _parse(path, file_format: str, version: str) -> tuple[dict, dict]:
    """The tensor entries and metadata of a checkpoint of ``file_format``, or ExpertFileError."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ExpertFileError(path, f"cannot read the file ({error.strerror or error})") from None
    try:
        entries = safetensors.deserialize(data)
        (header_len,) = struct.unpack("<Q", data[:8])
        metadata = json.loads(data[8:8 + header_len]).get("__metadata__") or {}
    except (safetensors.SafetensorError, ValueError, struct.error) as error:
        raise ExpertFileError(path, f"corrupted or truncated safetensors file ({error})") from None
    for key in ("format", "version"):
        if key not in metadata:
            raise ExpertFileError(path, f"metadata has no {key!r} (not a {file_format} file)")
    if metadata["format"] != file_format:
        raise ExpertFileError(path, f"format is {metadata['format']!r}, expected {file_format!r}")
    if metadata["version"] != version:
        raise ExpertFileError(path, f"version {metadata['version']!r} is not supported "
                                    f"(expected {version!r})")
    return dict(entries), metadata


def _tensors(path, found: dict, metadata: dict, shapes: dict) -> dict:
    """The tensors named in ``shapes`` (``{name: (dims, dtype)}``) as bits (uint16 bf16,
    uint32 fp32), checked, or ExpertFileError."""
    for name in shapes:
        if name not in found:
            raise ExpertFileError(path, f"missing tensor {name!r} (has: "
                                        f"{', '.join(sorted(found)) or 'none'})")
    for name in sorted(found):
        if name not in shapes:
            raise ExpertFileError(path, f"unexpected tensor {name!r} (expected only "
                                        f"{', '.join(shapes)})")
    tensors = {}
    for name, (shape, dtype) in shapes.items():
        info = found[name]
        if info["dtype"] != dtype:
            raise ExpertFileError(path, f"tensor {name!r} has dtype {info['dtype']}, "
                                        f"expected {dtype}")
        if list(info["shape"]) != list(shape):
            raise ExpertFileError(path, f"tensor {name!r} has shape {list(info['shape'])}, "
                                        f"expected {list(shape)}")
        bits = _NUMPY_DTYPE[dtype]
        tensors[name] = np.frombuffer(bytes(info["data"]), dtype=bits).astype(
            bits.newbyteorder("=")).reshape(shape)
    if metadata.get("sha256") != _digest(tensors):
        raise ExpertFileError(path, "tensor data corrupted (sha256 of the tensors does not "
                                    "match the metadata)")
    return tensors


def load_expert(path, shape: DecoderShape) -> Expert:
    """The expert in ``path``, checked to be a decoder layer of ``shape``, or ExpertFileError."""
    found, metadata = _parse(path, EXPERT_FORMAT, EXPERT_VERSION)
    tensors = _tensors(path, found, metadata, expert_tensor_shapes(shape))
    for key in ("name", "category"):
        if not metadata.get(key):
            raise ExpertFileError(path, f"metadata has no {key!r}")
    return Expert(metadata["name"], metadata["category"], tensors)


def load_router(path, d: int) -> RouterCheckpoint:
    """The router in ``path`` (``[d, C]``, C from its category list), or ExpertFileError."""
    found, metadata = _parse(path, ROUTER_FORMAT, ROUTER_VERSION)
    try:
        categories = json.loads(metadata.get("categories", ""))
    except ValueError:
        categories = None
    if not (isinstance(categories, list) and categories
            and all(isinstance(c, str) for c in categories)
            and len(set(categories)) == len(categories)):
        raise ExpertFileError(path, "metadata 'categories' is not a JSON list of distinct names")
    tensors = _tensors(path, found, metadata, {"router": ((d, len(categories)), "BF16")})
    return RouterCheckpoint(tensors["router"], tuple(categories))


def load_experts(directory, shape: DecoderShape) -> list[Expert]:
    """Every expert file in ``directory`` (all but the router), in file-name order."""
    paths = sorted(p for p in Path(directory).glob("*.safetensors") if p.name != ROUTER_FILE)
    if not paths:
        raise ExpertFileError(directory, "no expert checkpoints (*.safetensors) found")
    experts = [load_expert(p, shape) for p in paths]
    seen = {}
    for path, expert in zip(paths, experts, strict=True):
        if expert.name in seen:
            raise ExpertFileError(path, f"expert name {expert.name!r} is also used by "
                                        f"{seen[expert.name]}")
        seen[expert.name] = path
    return experts


def decoder_weights(expert: Expert, shape: DecoderShape) -> dict:
    """The weight inputs of ``decoder_graph(shape)`` for ``expert``: its stored tensors
    plus the derived rotated weights ``wq<h>_rot``, ``wk<h>_rot``."""
    graph = decoder_graph(shape)
    inputs = derived_inputs(graph, dict(expert.weights), shape)
    return {name: inputs[name] for name in graph.weights}
