"""Verilog of a design with a chosen reset style for its ``sync`` domain.

``"sync"`` is Amaranth's default and what the FPGA flow builds; ``"async"`` is what
the Verilator models use, because of how Verilator schedules a design: on every
``eval()`` it first evaluates all logic combinationally reachable from a top-level
input (its "input combinational" region, whose first pass always runs). With a
synchronous reset, ``rst`` selects the initial value in front of every flop, so the
next-state logic of the whole design is reachable from ``rst`` and is evaluated
there on every ``eval()`` (a clock cycle has at least two), on top of the clocked
evaluation. With an asynchronous reset, ``rst`` goes to the flops' reset inputs and
that region keeps only the logic behind real inputs (host and backdoor ports).

The cycle behaviour is the same for the testbenches, which hold ``rst`` over whole
clock cycles and release it after a rising edge: with either style every flop holds
its initial value at the first rising edge after the release and runs from there.
"""

__all__ = ["RESET_STYLES", "convert"]

RESET_STYLES = ("sync", "async")


def convert(top, name: str, reset: str = "sync") -> str:
    """Verilog of ``top`` (a ``wiring.Component``) as module ``name``; the ``sync``
    domain, when the design does not define it itself, resets as ``reset`` says."""
    from amaranth.back import verilog
    from amaranth.hdl import ClockDomain

    if reset not in RESET_STYLES:
        raise ValueError(f"unknown reset style {reset!r} (one of {', '.join(RESET_STYLES)})")
    asynchronous = reset == "async"
    return verilog.convert(
        top, name=name, emit_src=False, strip_internal_attrs=True,
        missing_domain=lambda domain: ClockDomain(domain, async_reset=asynchronous))
