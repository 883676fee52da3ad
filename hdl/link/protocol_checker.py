"""Passive checker of one link direction's sequence numbers and credit counters.

Watches the sending endpoint's transmitter and the receiving endpoint's receiver
and counts every cycle a rule is broken; ``first_rule`` holds the first rule
broken (0 = none):

1. words sent on a VC but not yet drained by the receiving user exceed the
   credit limit (the receive buffer could overflow);
2. the sender believes more words were drained than really were (credits from nowhere);
3. the receiver commits a sequence number other than the previous one + 1;
4. the receiver commits a sequence number the sender never assigned;
5. the sender's cumulative ACK moves backwards.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .params import COUNT_BITS, SEQ_BITS, LinkParams

__all__ = ["LinkProtocolChecker", "RULES"]

RULES = {1: "credit overrun", 2: "credit returned before the words were drained",
         3: "sequence committed out of order", 4: "sequence committed but never sent",
         5: "cumulative ACK moved backwards"}


class LinkProtocolChecker(wiring.Component):
    """Counts protocol rule violations of one direction (see module docstring)."""

    def __init__(self, params: LinkParams):
        self._params = params
        vcs = params.vcs
        super().__init__({
            "credit_limit": In(COUNT_BITS),
            "sent": In(COUNT_BITS).array(vcs), "freed_remote": In(COUNT_BITS).array(vcs),
            "freed": In(COUNT_BITS).array(vcs), "acked": In(SEQ_BITS), "seq_next": In(SEQ_BITS),
            "commit_valid": In(1), "commit_seq": In(SEQ_BITS),
            "violations": Out(32), "first_rule": Out(8), "commits_checked": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        p = self._params
        broken = []
        for v in range(p.vcs):
            pending = Signal(COUNT_BITS, name=f"pending{v}")
            ahead = Signal(COUNT_BITS, name=f"ahead{v}")
            m.d.comb += [pending.eq(self.sent[v] - self.freed[v]),
                         ahead.eq(self.freed[v] - self.freed_remote[v])]
            broken += [(1, pending > self.credit_limit), (2, ahead[COUNT_BITS - 1])]
        last_commit = Signal(SEQ_BITS, init=(1 << SEQ_BITS) - 1)
        unsent = Signal(SEQ_BITS)
        m.d.comb += unsent.eq(self.seq_next - self.commit_seq - 1)
        broken += [(3, self.commit_valid & (self.commit_seq != (last_commit + 1)[:SEQ_BITS])),
                   (4, self.commit_valid & (unsent >= p.window))]
        with m.If(self.commit_valid):
            m.d.sync += [last_commit.eq(self.commit_seq),
                         self.commits_checked.eq(self.commits_checked + 1)]
        previous_ack = Signal(SEQ_BITS)
        step = Signal(SEQ_BITS)
        m.d.comb += step.eq(self.acked - previous_ack)
        m.d.sync += previous_ack.eq(self.acked)
        broken.append((5, step[SEQ_BITS - 1]))

        any_broken = Signal()
        rule = Signal(8)
        for number, condition in reversed(broken):
            with m.If(condition):
                m.d.comb += [any_broken.eq(1), rule.eq(number)]
        with m.If(any_broken):
            m.d.sync += self.violations.eq(self.violations + 1)
            with m.If(self.first_rule == 0):
                m.d.sync += self.first_rule.eq(rule)
        return m
