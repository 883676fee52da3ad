"""Errors of the Composition-of-Experts layer: each names what was wrong, and every
operation that raises one leaves the object it was called on exactly as it was."""

from testbench.runtime.memory_map import OutOfDeviceMemory

__all__ = ["CoEError", "ExpertFileError", "UnknownExpert", "ExpertTooLarge", "DDRFull",
           "HBMFull", "NoEvictableSlot"]


class CoEError(Exception):
    """Base class of every CoE planning error."""


class ExpertFileError(CoEError):
    """A checkpoint file that cannot be used: the message names the file and the problem."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class UnknownExpert(CoEError):
    """An expert (or category) that the store, region or category map does not hold."""


class ExpertTooLarge(CoEError):
    """An expert that does not fit one HBM slot (or the whole HBM region)."""


class DDRFull(CoEError, OutOfDeviceMemory):
    """The DDR store (or the DDR tier) cannot hold every expert it was asked to preload."""


class HBMFull(CoEError, OutOfDeviceMemory):
    """HBM cannot hold the expert slots next to the router and the scratch buffers."""


class NoEvictableSlot(CoEError):
    """Every HBM slot is taken by a pinned (in use) expert, so nothing may be evicted."""
