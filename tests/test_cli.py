"""``rdu verilog`` and ``rdu lint``: Verilog for any registered design, lint clean."""

import json

import pytest

from testbench.cli.designs import DESIGNS
from testbench.cli.lint_cmd import lint_design
from testbench.cli.main import SUBCOMMANDS, build_parser, main


def test_verilog_emits_the_named_design_with_parameters(tmp_path, capsys):
    out_file = tmp_path / "add.v"
    assert main(["verilog", "fp32_add", "-p", "lanes=3", "-o", str(out_file), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["params"] == {"unit": "fp32_add", "lanes": 3}
    assert "input [194:0] i__payload" in report["ports"]  # 3 x {a, b, sub}
    assert "module fp32_add(" in out_file.read_text()


def _commands(parser) -> set[str]:
    return set(parser._subparsers._group_actions[0].choices)


def test_each_command_line_builds_its_own_command_and_the_help_all_of_them():
    assert _commands(build_parser()) == set(SUBCOMMANDS)
    for name in SUBCOMMANDS:
        assert _commands(build_parser([name, "--json"])) == {name}
    assert _commands(build_parser(["nope"])) == set(SUBCOMMANDS)


@pytest.mark.parametrize("argv,needle", [
    (["verilog", "nope"], "unknown design 'nope'"),
    (["verilog", "fp32_add", "-p", "width=3"], "has no parameter(s) width"),
    (["verilog", "fp32_add", "-p", "lanes"], "is not KEY=VALUE"),
    (["verilog", "fp32_add", "-p", "lanes=0"], "lanes must be at least 1"),
])
def test_verilog_bad_input_is_a_clear_error(argv, needle, capsys):
    assert main(argv) == 2
    assert needle in capsys.readouterr().err


# The multi-socket system and the 16-lane PCU and 8x8 systolic array at their defaults
# (30-40 s each) are linted by `make lint` and `make regress`; the rdu design lints the same
# PCU and systolic code at its smaller size here.
LINTED_IN_REGRESS = {"system", "pcu", "systolic"}


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.regress)
                                  if name in LINTED_IN_REGRESS else name
                                  for name in sorted(DESIGNS)])
def test_generated_verilog_is_lint_clean(name):
    assert lint_design(name) == []


@pytest.mark.parametrize("argv,needle", [
    (["mem", "hbm", "--size", "100"], "positive multiple of 64"),
    (["mem", "ddr", "--stall", "1.5"], "--stall must be in [0, 1)"),
    (["mem", "hbm", "--size", str(1 << 40)], "exceeds the hbm tier's capacity"),
])
def test_mem_bad_input_is_a_clear_error(argv, needle, capsys):
    assert main(argv) == 2
    assert needle in capsys.readouterr().err
