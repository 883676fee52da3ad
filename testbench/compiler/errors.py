"""The one error the kernel compiler raises for a graph it cannot map."""

__all__ = ["CompileError"]


class CompileError(ValueError):
    """A graph that cannot run on this RDU; the message names the op and the resource."""
