"""Shared CoE test setup: a temporary directory of expert checkpoints."""

from testbench.coe.experts import make_experts


def expert_directory(tmp_path_factory, count: int, shape, seed: int):
    """A new temporary directory holding ``count`` experts of ``shape`` and the router
    checkpoint, written by :func:`~testbench.coe.experts.make_experts` from ``seed``."""
    directory = tmp_path_factory.mktemp("experts")
    make_experts(directory, count, shape, seed=seed)
    return directory
