"""``rdu testfloat``: Berkeley SoftFloat vectors through the RTL, and clear errors on bad input."""

import io
import json
import sys

import numpy as np
import pytest
from numerics_checks import operands_for

from testbench.cli.main import main
from testbench.cli.numerics_ops import NUMERIC_OPS
from testbench.cli.testfloat_cmd import REQUIRED_OPS
from testbench.golden import numerics as golden
from testbench.golden.softfloat_vectors import make_testfloat_lines, softfloat_results

VECTORS = 20_000


def _run(argv, stdin_text, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin_text))
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("op", REQUIRED_OPS)
def test_softfloat_vectors_pass_through_rtl(op, capsys, monkeypatch):
    operands = operands_for(op, np.random.default_rng(sum(op.encode())), VECTORS)
    text = "\n".join(make_testfloat_lines(op, *operands)) + "\n"
    code, out, err = _run(["testfloat", op, "--json", "--stall", "0.1"], text, capsys,
                          monkeypatch)
    report = json.loads(out)
    assert report["vectors"] == VECTORS
    assert report["mismatch_count"] == 0, report["mismatches"]
    assert code == 0


@pytest.mark.parametrize("op", REQUIRED_OPS)
def test_golden_model_agrees_with_softfloat(op):
    operands = operands_for(op, np.random.default_rng(7), 50_000)
    want, _ = softfloat_results(op, *operands)
    got = NUMERIC_OPS[op].expected(*operands)
    bits = NUMERIC_OPS[op].result_bits
    nan = golden.is_nan_f32(want.astype(np.uint32)) if bits == 32 else \
        ((want & 0x7F80) == 0x7F80) & ((want & 0x7F) != 0)
    assert np.array_equal(got[~nan], want[~nan])
    canonical = 0x7FC00000 if bits == 32 else 0x7FC0
    assert (got[nan] == canonical).all()


def test_mismatch_is_reported_with_operands(capsys, monkeypatch):
    code, out, _ = _run(["testfloat", "f32_add"], "3F800000 3F800000 40000001 00\n", capsys,
                        monkeypatch)
    assert code == 1
    assert "<stdin>:1: 3F800000 3F800000 expected 40000001 got 40000000" in out


@pytest.mark.parametrize("text,needle", [
    ("3F800000 3F800000\n", "<stdin>:1: expected 'A B RESULT [FLAGS]' for f32_add, got 2 field"),
    ("\n\n3F800000 xyz 40000000 00\n", "<stdin>:3: field 2 'xyz' is not hexadecimal"),
    ("3F800000 13F800000 40000000 00\n", "<stdin>:1: field 2 '13F800000' does not fit in 32"),
    ("# only a comment\n", "no vectors found"),
])
def test_malformed_input_names_the_line(text, needle, capsys, monkeypatch):
    code, out, err = _run(["testfloat", "f32_add"], text, capsys, monkeypatch)
    assert code == 2
    assert needle in err
    assert "Traceback" not in err + out


def test_unknown_op_is_a_clear_error(capsys, monkeypatch):
    code, _, err = _run(["testfloat", "f64_add"], "", capsys, monkeypatch)
    assert code == 2 and "unknown op 'f64_add'" in err and "f32_add" in err


def test_missing_file_is_a_clear_error(tmp_path, capsys, monkeypatch):
    code, _, err = _run(["testfloat", "f32_add", str(tmp_path / "nope.txt")], "", capsys,
                        monkeypatch)
    assert code == 2 and "cannot read" in err
