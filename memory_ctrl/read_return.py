"""The read return path of a DRAM channel controller: tags of issued reads, then responses."""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["ReadReturn"]


class ReadReturn(wiring.Component):
    """Pairs each RD's tag (``issue``, ``issue_tag``) with the device's data (``rdata_valid``,
    ``rdata``, in RD order) and queues the result on ``resp`` ({tag, data} of ``layout``).

    ``credit`` is high while fewer than ``depth`` reads are issued and not yet taken
    from ``resp``: the controller issues a RD only then, so the queue never overflows.
    """

    def __init__(self, layout: data.StructLayout, depth: int):
        self._depth = depth
        super().__init__({
            "issue": In(1), "issue_tag": In(layout.members["tag"]),
            "rdata_valid": In(1), "rdata": In(layout.members["data"]),
            "resp": Out(stream.Signature(layout)),
            "credit": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        depth = self._depth
        outstanding = Signal(range(depth + 1))
        m.submodules.tags = tags = fifo.SyncFIFOBuffered(width=len(self.issue_tag), depth=depth)
        m.submodules.resp_fifo = resp_fifo = fifo.SyncFIFOBuffered(
            width=len(self.resp.payload.as_value()), depth=depth)
        m.d.comb += [self.credit.eq(outstanding < depth),
                     tags.w_en.eq(self.issue), tags.w_data.eq(self.issue_tag),
                     tags.r_en.eq(self.rdata_valid),
                     resp_fifo.w_en.eq(self.rdata_valid),
                     resp_fifo.w_data.eq(Cat(tags.r_data, self.rdata)),
                     self.resp.valid.eq(resp_fifo.r_rdy),
                     self.resp.payload.eq(resp_fifo.r_data),
                     resp_fifo.r_en.eq(self.resp.ready)]
        m.d.sync += outstanding.eq(outstanding + self.issue
                                   - (self.resp.valid & self.resp.ready))
        return m
