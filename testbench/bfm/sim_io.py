"""The simulation side of :mod:`testbench.sim.runner`'s file-based data exchange."""

import json
import os

import numpy as np

__all__ = ["sim_args", "sim_inputs", "save_outputs"]


def sim_args() -> dict:
    """The JSON arguments the runner passed to this test (the file ``RDU_SIM_ARGS`` names)."""
    path = os.environ.get("RDU_SIM_ARGS")
    if not path:
        return {}
    with open(path) as arguments:
        return json.loads(arguments.read())


def sim_inputs() -> dict:
    """The arrays the runner passed to this test (loaded without pickle)."""
    path = os.environ.get("RDU_SIM_INPUTS")
    if not path or not os.path.exists(path):
        return {}
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def save_outputs(**arrays) -> None:
    """Hand arrays back to the runner."""
    np.savez(os.environ["RDU_SIM_OUTPUTS"], **arrays)
