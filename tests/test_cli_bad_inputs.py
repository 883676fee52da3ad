"""``rdu kernel NAME --inputs FILE``: a file the command cannot use is one error line, exit 2.

Every case is refused before anything is simulated: exit status 2, nothing on
stdout, exactly one line on stderr (``rdu kernel: error: ...``, no traceback). A
well-formed archive passes the same checks and reaches the simulation (which the
control case replaces by a sentinel).
"""

import zipfile

import numpy as np
import pytest

import testbench.compiler
from testbench.cli.main import main

# gemm at its default sizes: a bf16 [4, 8], b bf16 [8, 4]
A_SHAPE, B_SHAPE = (4, 8), (8, 4)


def _bf16_bits(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 1 << 16, shape).astype(np.uint16)


def _good_arrays():
    return {"a": _bf16_bits(A_SHAPE, 1), "b": _bf16_bits(B_SHAPE, 2)}


def _refused(argv, capsys) -> str:
    """Run ``argv``; assert exit 2, empty stdout, one stderr line; return that line."""
    status = main(argv)
    captured = capsys.readouterr()
    assert status == 2, f"exit status {status}; stderr: {captured.err!r}"
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, f"expected one error line, got {captured.err!r}"
    assert lines[0].startswith("rdu kernel: error: --inputs"), lines[0]
    assert "Traceback" not in captured.err
    return lines[0]


def _damage_member(path, member: str) -> None:
    """Flip the third-last of ``member``'s stored bytes (array data, or the deflate stream)."""
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    name_len = int.from_bytes(raw[info.header_offset + 26:info.header_offset + 28], "little")
    extra_len = int.from_bytes(raw[info.header_offset + 28:info.header_offset + 30], "little")
    data = info.header_offset + 30 + name_len + extra_len
    raw[data + info.compress_size - 3] ^= 0x5A
    path.write_bytes(bytes(raw))


def _write(kind: str, path):
    """Write the bad file of ``kind`` to ``path``; return a phrase the error must contain."""
    good = _good_arrays()
    if kind == "missing":
        return "No such file"
    if kind == "text":
        path.write_text("a,b\n1,2\n")
        return "not an .npz archive"
    if kind == "empty":
        path.write_bytes(b"")
        return "not an .npz archive"
    if kind == "random_bytes":
        path.write_bytes(np.random.default_rng(3).integers(0, 256, 500, np.uint8).tobytes())
        return "not an .npz archive"
    if kind == "npy":
        with open(path, "wb") as file:
            np.save(file, good["a"])
        return "a single .npy array"
    if kind == "truncated":
        with open(path, "wb") as file:
            np.savez(file, **good)
        path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])
        return "damaged .npz archive"
    if kind == "damaged_member":
        with open(path, "wb") as file:
            np.savez(file, **good)
        _damage_member(path, "b.npy")
        return "array 'b' cannot be read: Bad CRC-32"
    if kind == "damaged_compressed":
        with open(path, "wb") as file:
            np.savez_compressed(file, **good)
        _damage_member(path, "a.npy")
        return "array 'a' cannot be read"
    if kind == "object_array":
        with open(path, "wb") as file:
            np.savez(file, a=np.array([{"a": 1}] * 32, dtype=object).reshape(A_SHAPE),
                     b=good["b"])
        return "array 'a' cannot be read: Object arrays cannot be loaded"
    if kind == "wrong_name":
        with open(path, "wb") as file:
            np.savez(file, a=good["a"], w=good["b"])
        return "no array 'b' (needs a, b)"
    if kind == "wrong_shape":
        with open(path, "wb") as file:
            np.savez(file, a=good["a"].T, b=good["b"])
        return "a has shape [8, 4], the graph needs [4, 8]"
    if kind == "wrong_dtype_size":
        with open(path, "wb") as file:
            np.savez(file, a=good["a"].astype(np.float32), b=good["b"])
        return "a is float32; bf16 needs uint16 bits"
    if kind == "wrong_dtype_kind":
        with open(path, "wb") as file:
            np.savez(file, a=good["a"], b=np.full(B_SHAPE, b"xy", dtype="S2"))
        return "b is |S2; bf16 needs uint16 bits"
    raise AssertionError(kind)


KINDS = ["missing", "text", "empty", "random_bytes", "npy", "truncated", "damaged_member",
         "damaged_compressed", "object_array", "wrong_name", "wrong_shape", "wrong_dtype_size",
         "wrong_dtype_kind"]


class _ReachedSimulation(Exception):
    pass


@pytest.fixture(autouse=True)
def no_simulation(monkeypatch):
    """``run_compiled`` replaced: a case that gets past the checks raises, never simulates."""
    seen = {}

    def sentinel(compiled, inputs, **kwargs):
        seen.update(inputs)
        raise _ReachedSimulation

    monkeypatch.setattr(testbench.compiler, "run_compiled", sentinel)
    return seen


@pytest.mark.parametrize("kind", KINDS)
def test_bad_inputs_file_is_one_error_line(kind, tmp_path, capsys):
    path = tmp_path / "inputs.npz"
    needle = _write(kind, path)
    line = _refused(["kernel", "gemm", "--inputs", str(path)], capsys)
    assert needle in line, line


def test_fp32_input_of_a_non_numeric_dtype_is_refused(tmp_path, capsys):
    """A 4-byte string array has a binary32's size but no bits to reinterpret."""
    path = tmp_path / "inputs.npz"
    x = np.ones((4, 4), np.float32)
    with open(path, "wb") as file:
        np.savez(file, a=x, b=np.full((4, 4), "z", dtype="<U1"))
    line = _refused(["kernel", "add", "--inputs", str(path)], capsys)
    assert "b is <U1; fp32 needs float32 or uint32" in line, line


def test_good_inputs_file_reaches_the_simulation(tmp_path, no_simulation):
    """The control: a well-formed archive passes every check above."""
    path = tmp_path / "inputs.npz"
    good = _good_arrays()
    with open(path, "wb") as file:
        np.savez(file, **good)
    with pytest.raises(_ReachedSimulation):
        main(["kernel", "gemm", "--inputs", str(path), "--quiet"])
    assert np.array_equal(no_simulation["a"], good["a"])
    assert np.array_equal(no_simulation["b"], good["b"])
