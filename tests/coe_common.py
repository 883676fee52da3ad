"""Shared CoE test setup: a temporary directory of expert checkpoints, and the check
that an ``rdu coe`` command refuses its input with one error line."""

from testbench.cli.main import main
from testbench.coe.experts import make_experts


def expert_directory(tmp_path_factory, count: int, shape, seed: int):
    """A new temporary directory holding ``count`` experts of ``shape`` and the router
    checkpoint, written by :func:`~testbench.coe.experts.make_experts` from ``seed``."""
    directory = tmp_path_factory.mktemp("experts")
    make_experts(directory, count, shape, seed=seed)
    return directory


def refused(argv, capsys) -> str:
    """Run ``rdu ARGV`` (an ``rdu coe`` action); assert exit 2, empty stdout and one
    ``rdu coe: error:`` line on stderr, no traceback; return the message."""
    status = main(argv)
    captured = capsys.readouterr()
    assert status == 2, f"exit status {status}; stderr: {captured.err!r}"
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert lines[0].startswith("rdu coe: error: "), lines[0]
    return lines[0].removeprefix("rdu coe: error: ")
