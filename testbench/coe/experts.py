"""Expert and router checkpoints in safetensors files, generated from a seed, validated on load.

An expert is a SwiGLU feed-forward block, ``out = silu(x @ w1) * (x @ w3)`` with
``w1``, ``w3`` bf16 ``[d, f]`` (the compiler's ``swiglu`` kernel). Its file holds
exactly the tensors ``w1`` and ``w3`` (safetensors dtype ``BF16``) and the metadata
``{"format": "rdu-coe-expert", "version": "1", "name", "category", "sha256"}``.
The router file holds ``router`` bf16 ``[d, C]`` and the metadata ``{"format":
"rdu-coe-router", "version": "1", "categories": JSON list of the C names, "sha256"}``.
``sha256`` is the hex digest of the tensors' raw bytes in tensor-name order, so a
flipped bit in the data is found even though the file still parses.

In memory every tensor is its bit pattern (``uint16`` bf16), as everywhere in the
project. Expert ``0`` has the category ``general`` (the router's low-confidence
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

from testbench.compiler.golden import evaluate
from testbench.compiler.library import kernel_graph
from testbench.golden.numerics import f32_to_bf16

from .errors import ExpertFileError

__all__ = ["EXPERT_FORMAT", "ROUTER_FORMAT", "FORMAT_VERSION", "GENERAL", "DEFAULT_CATEGORIES",
           "ROUTER_FILE", "Expert", "RouterCheckpoint", "expert_categories", "make_experts",
           "write_expert", "write_router", "load_expert", "load_experts", "load_router",
           "expert_output"]

EXPERT_FORMAT, ROUTER_FORMAT, FORMAT_VERSION = "rdu-coe-expert", "rdu-coe-router", "1"
GENERAL = "general"
DEFAULT_CATEGORIES = ("code", "math", "law", "medicine", "finance", "science", "writing",
                      "translation")
ROUTER_FILE = "router.safetensors"
EXPERT_TENSORS = ("w1", "w3")


@dataclass(frozen=True, eq=False)
class Expert:
    """One loaded expert: its name, category and bf16 weights (uint16 bits, ``[d, f]``)."""

    name: str
    category: str
    w1: np.ndarray
    w3: np.ndarray

    @property
    def nbytes(self) -> int:
        """Bytes of its weights, which is what a switch copies DDR -> HBM."""
        return int(self.w1.nbytes + self.w3.nbytes)


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
        blob = np.ascontiguousarray(tensors[name], dtype="<u2").tobytes()
        header[name] = {"dtype": "BF16", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def write_expert(path, expert: Expert) -> Path:
    """Write ``expert`` as a checkpoint file at ``path``."""
    path = Path(path)
    _save(path, {"w1": expert.w1, "w3": expert.w3},
          {"format": EXPERT_FORMAT, "version": FORMAT_VERSION, "name": expert.name,
           "category": expert.category})
    return path


def write_router(path, router: RouterCheckpoint) -> Path:
    """Write ``router`` as a checkpoint file at ``path``."""
    path = Path(path)
    _save(path, {"router": router.weights},
          {"format": ROUTER_FORMAT, "version": FORMAT_VERSION,
           "categories": json.dumps(list(router.categories))})
    return path


def make_experts(directory, count: int, d: int, f: int, categories=DEFAULT_CATEGORIES,
                 seed: int = 1) -> list[Path]:
    """Write ``count`` expert files and ``router.safetensors`` into ``directory``.

    Deterministic from ``seed``: weights are standard normal scaled by ``1/sqrt(d)``
    (router: ``1/sqrt(d)`` too), rounded to bf16 to nearest even. Returns the expert
    files in expert order (file names ``expertNN-<category>.safetensors``)."""
    if d < 1 or f < 1:
        raise ValueError(f"d and f must be positive, not d={d}, f={f}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    names = expert_categories(count, categories)
    width = max(2, len(str(count - 1)))
    paths = []
    for i, category in enumerate(names):
        rng = np.random.default_rng([seed, i])
        expert = Expert(f"expert{i:0{width}d}-{category}", category,
                        _bf16_normal(rng, (d, f), d ** -0.5), _bf16_normal(rng, (d, f), d ** -0.5))
        paths.append(write_expert(directory / f"{expert.name}.safetensors", expert))
    rng = np.random.default_rng([seed, 1 << 20])
    write_router(directory / ROUTER_FILE,
                 RouterCheckpoint(_bf16_normal(rng, (d, count), d ** -0.5), tuple(names)))
    return paths


def _parse(path, file_format: str) -> tuple[dict, dict]:
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
    if metadata["version"] != FORMAT_VERSION:
        raise ExpertFileError(path, f"version {metadata['version']!r} is not supported "
                                    f"(expected {FORMAT_VERSION!r})")
    return dict(entries), metadata


def _tensors(path, found: dict, metadata: dict, shapes: dict) -> dict:
    """The tensors named in ``shapes`` (uint16 bits), checked, or ExpertFileError."""
    for name in shapes:
        if name not in found:
            raise ExpertFileError(path, f"missing tensor {name!r} (has: "
                                        f"{', '.join(sorted(found)) or 'none'})")
    for name in sorted(found):
        if name not in shapes:
            raise ExpertFileError(path, f"unexpected tensor {name!r} (expected only "
                                        f"{', '.join(shapes)})")
    tensors = {}
    for name, shape in shapes.items():
        info = found[name]
        if info["dtype"] != "BF16":
            raise ExpertFileError(path, f"tensor {name!r} has dtype {info['dtype']}, "
                                        f"expected BF16")
        if list(info["shape"]) != list(shape):
            raise ExpertFileError(path, f"tensor {name!r} has shape {list(info['shape'])}, "
                                        f"expected {list(shape)}")
        tensors[name] = np.frombuffer(bytes(info["data"]), dtype="<u2").astype(
            np.uint16).reshape(shape)
    if metadata.get("sha256") != _digest(tensors):
        raise ExpertFileError(path, "tensor data corrupted (sha256 of the tensors does not "
                                    "match the metadata)")
    return tensors


def load_expert(path, d: int, f: int) -> Expert:
    """The expert in ``path``, checked to be a ``[d, f]`` SwiGLU expert, or ExpertFileError."""
    found, metadata = _parse(path, EXPERT_FORMAT)
    tensors = _tensors(path, found, metadata, {name: (d, f) for name in EXPERT_TENSORS})
    for key in ("name", "category"):
        if not metadata.get(key):
            raise ExpertFileError(path, f"metadata has no {key!r}")
    return Expert(metadata["name"], metadata["category"], tensors["w1"], tensors["w3"])


def load_router(path, d: int) -> RouterCheckpoint:
    """The router in ``path`` (``[d, C]``, C from its category list), or ExpertFileError."""
    found, metadata = _parse(path, ROUTER_FORMAT)
    try:
        categories = json.loads(metadata.get("categories", ""))
    except ValueError:
        categories = None
    if not (isinstance(categories, list) and categories
            and all(isinstance(c, str) for c in categories)
            and len(set(categories)) == len(categories)):
        raise ExpertFileError(path, "metadata 'categories' is not a JSON list of distinct names")
    tensors = _tensors(path, found, metadata, {"router": (d, len(categories))})
    return RouterCheckpoint(tensors["router"], tuple(categories))


def load_experts(directory, d: int, f: int) -> list[Expert]:
    """Every expert file in ``directory`` (all but the router), in file-name order."""
    paths = sorted(p for p in Path(directory).glob("*.safetensors") if p.name != ROUTER_FILE)
    if not paths:
        raise ExpertFileError(directory, "no expert checkpoints (*.safetensors) found")
    experts = [load_expert(p, d, f) for p in paths]
    seen = {}
    for path, expert in zip(paths, experts, strict=True):
        if expert.name in seen:
            raise ExpertFileError(path, f"expert name {expert.name!r} is also used by "
                                        f"{seen[expert.name]}")
        seen[expert.name] = path
    return experts


def expert_output(expert: Expert, x: np.ndarray, lanes: int, pmu_depth: int) -> np.ndarray:
    """Golden output (uint32 fp32 bits ``[m, f]``) of ``expert`` on bf16 ``x`` ``[m, d]``,
    in the order the compiled ``swiglu`` kernel computes it on ``lanes`` / ``pmu_depth``."""
    x = np.asarray(x, np.uint16)
    d, f = expert.w1.shape
    graph = kernel_graph("swiglu", m=x.shape[0], k=d, n=f)
    return evaluate(graph, {"x": x, "w1": expert.w1, "w3": expert.w3}, lanes, pmu_depth)["out"]
