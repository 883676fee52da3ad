"""Round-robin choice among requesters (combinational)."""

from amaranth.hdl import Signal

__all__ = ["round_robin"]


def round_robin(m, requests: list, last, name: str = "rr"):
    """Pick the first requester after ``last`` (wrapping) whose request is high.

    Returns ``(any, index)``: ``any`` is high when some request is; ``index`` is the
    chosen requester. The caller registers ``index`` into ``last`` after a grant.
    """
    count = len(requests)
    width = max(1, (count - 1).bit_length())
    grant_any = Signal(name=f"{name}_any")
    grant = Signal(width, name=f"{name}_index")
    m.d.comb += grant_any.eq(0)
    for previous in range(count):
        with m.If(last == previous):
            # lowest priority first so that the highest-priority assignment wins
            for offset in reversed(range(1, count + 1)):
                candidate = (previous + offset) % count
                with m.If(requests[candidate]):
                    m.d.comb += [grant_any.eq(1), grant.eq(candidate)]
    return grant_any, grant
