"""One DRAM channel controller: request queue, bank state, FR-FCFS, refresh."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .bank_tracker import BankTracker
from .device import CommandSignature
from .presets import DramPreset
from .read_return import ReadReturn
from .refresh import RefreshTimer
from .request_queue import RequestQueue
from .timing_rules import Cmd

__all__ = ["ChannelController", "request_layout", "response_layout"]


def _bits(count: int) -> int:
    return max(1, (count - 1).bit_length())


def request_layout(preset: DramPreset, tag_bits: int) -> data.StructLayout:
    return data.StructLayout({
        "we": 1, "bank": _bits(preset.banks), "row": _bits(preset.rows),
        "col": _bits(preset.atoms_per_row), "tag": tag_bits,
        "wdata": preset.atom_bytes * 8, "wmask": preset.atom_bytes,
    })


def response_layout(preset: DramPreset, tag_bits: int) -> data.StructLayout:
    return data.StructLayout({"tag": tag_bits, "data": preset.atom_bytes * 8})


class _Choice:
    """The command chosen in this cycle; ``served``: it is a column command completing
    queue entry ``served_index``."""

    def __init__(self, preset: DramPreset, queue_depth: int):
        self.cmd = Signal(Cmd)
        self.bank = Signal(_bits(preset.banks), name="cmd_bank")
        self.row = Signal(_bits(preset.rows), name="cmd_row")
        self.col = Signal(_bits(preset.atoms_per_row), name="cmd_col")
        self.served = Signal()
        self.served_index = Signal(range(queue_depth))


class ChannelController(wiring.Component):
    """Schedules queued atom requests onto one channel's command bus.

    * Queue of ``queue_depth`` requests kept in age order; requests to the same
      atom never pass each other (so reads see earlier writes).
    * FR-FCFS: ready row hits first (same direction as the last column command
      first, to save turnarounds), then ACT/PRE for the oldest request that can
      take one. After ``starvation_bound`` column commands have passed the oldest
      request, only the oldest is served until it completes.
    * Open-page policy, or ``closed_page``: a bank with no queued hit is precharged.
    * All-bank refresh every tREFI, never postponed: when it falls due, no new
      ACT or column command issues; open banks are precharged as soon as their
      timing allows and REF follows.
    * Timing: one down-counter per bank and command type, loaded from the rule
      table of :mod:`memory_ctrl.timing_rules`, plus four tFAW slots.
    * Reads return on ``resp`` (tag + data) in completion order; at most
      ``response_depth`` reads are in flight so the response FIFO never overflows.
    """

    def __init__(self, preset: DramPreset, *, tag_bits: int, queue_depth: int = 8,
                 response_depth: int = 16, starvation_bound: int = 16,
                 closed_page: bool = False):
        if queue_depth < 2:
            raise ValueError(f"queue_depth must be at least 2, not {queue_depth}")
        if starvation_bound < 1:
            raise ValueError(f"starvation_bound must be positive, not {starvation_bound}")
        self._preset = preset
        self._queue_depth = queue_depth
        self._response_depth = response_depth
        self._starvation_bound = starvation_bound
        self._closed_page = closed_page
        self._tag_bits = tag_bits
        super().__init__({
            "req": In(stream.Signature(request_layout(preset, tag_bits))),
            "resp": Out(stream.Signature(response_layout(preset, tag_bits))),
            "bus": Out(CommandSignature(preset)),
            "rdata_valid": In(1),
            "rdata": In(preset.atom_bytes * 8),
            "acts": Out(32),
            "col_cmds": Out(32),
            "refresh_pending": Out(1),
        })

    @property
    def preset(self) -> DramPreset:
        return self._preset

    def elaborate(self, platform):
        m = Module()
        p = self._preset
        m.submodules.queue = queue = RequestQueue(request_layout(p, self._tag_bits),
                                                  self._queue_depth)
        m.submodules.banks = banks = BankTracker(p)
        m.submodules.refresh = refresh = RefreshTimer(p.tREFI)
        m.submodules.reads = reads = ReadReturn(response_layout(p, self._tag_bits),
                                                self._response_depth)
        wiring.connect(m, wiring.flipped(self.req), queue.req)
        wiring.connect(m, reads.resp, wiring.flipped(self.resp))

        last_write = Signal()
        bypassed = Signal(range(self._starvation_bound + 1))
        starving = bypassed >= self._starvation_bound
        choice = _Choice(p, self._queue_depth)
        self._choose(m, choice, queue, banks, refresh.pending, starving,
                     *self._candidates(m, queue, banks, reads.credit, last_write, starving))
        cmd = choice.cmd
        m.d.comb += [banks.cmd.eq(cmd), banks.bank.eq(choice.bank), banks.row.eq(choice.row),
                     refresh.done.eq(cmd == Cmd.REF), self.refresh_pending.eq(refresh.pending),
                     queue.served.eq(choice.served), queue.served_index.eq(choice.served_index),
                     reads.issue.eq(cmd == Cmd.RD), reads.issue_tag.eq(queue.tag),
                     reads.rdata_valid.eq(self.rdata_valid), reads.rdata.eq(self.rdata),
                     self.bus.cmd.eq(cmd), self.bus.bank.eq(choice.bank),
                     self.bus.row.eq(choice.row), self.bus.col.eq(choice.col),
                     self.bus.wdata.eq(queue.wdata), self.bus.wmask.eq(queue.wmask)]

        with m.If(cmd == Cmd.ACT):
            m.d.sync += self.acts.eq(self.acts + 1)
        with m.If((cmd == Cmd.RD) | (cmd == Cmd.WR)):
            m.d.sync += [self.col_cmds.eq(self.col_cmds + 1), last_write.eq(cmd == Cmd.WR)]
        # Starvation: count column commands that pass the oldest request.
        with m.If(choice.served & (choice.served_index == 0)):
            m.d.sync += bypassed.eq(0)
        with m.Elif(choice.served & ~starving):
            m.d.sync += bypassed.eq(bypassed + 1)
        return m

    def _candidates(self, m, queue, banks, read_credit, last_write, starving):
        """Which queue entries could take a command now, as ``(has_hit, col_ok, col_pref,
        row_ok)``: per bank, a queued row hit; per entry, its column command (``col_pref``:
        in the direction of the last one), or an ACT or PRE for it."""
        p = self._preset
        entries = queue.entries
        valid = [queue.count > i for i in range(self._queue_depth)]
        row_bits = len(banks.row)
        # one-bit lookups keep the logic small
        rd_ready = Signal(p.banks)
        for b in range(p.banks):
            m.d.comb += rd_ready[b].eq(banks.rd_ok[b] & read_credit)
        hit = [Signal(name=f"hit{i}") for i in range(len(entries))]
        has_hit = Signal(p.banks)
        has_hit_terms = [Const(0, 1)] * p.banks
        for i, e in enumerate(entries):
            m.d.comb += hit[i].eq(valid[i] & banks.open.bit_select(e.bank, 1)
                                  & (banks.open_rows.word_select(e.bank, row_bits) == e.row))
            for b in range(p.banks):
                has_hit_terms[b] = has_hit_terms[b] | (hit[i] & (e.bank == b))
        m.d.comb += has_hit.eq(Cat(*has_hit_terms))
        col_ok, col_pref, row_ok = [], [], []
        for i, e in enumerate(entries):
            blocked = Const(0, 1)
            for j in range(i):
                o = entries[j]
                blocked = blocked | ((o.bank == e.bank) & (o.row == e.row) & (o.col == e.col))
            c_ok = Signal(name=f"col_ok{i}")
            m.d.comb += c_ok.eq(hit[i] & ~blocked & Mux(e.we, banks.wr_ok.bit_select(e.bank, 1),
                                                         rd_ready.bit_select(e.bank, 1)))
            col_ok.append(c_ok)
            col_pref.append(c_ok & (e.we == last_write))
            r_ok = Signal(name=f"row_ok{i}")
            may_close = ~has_hit.bit_select(e.bank, 1) | (starving if i == 0 else Const(0, 1))
            m.d.comb += r_ok.eq(valid[i] & (banks.act_ok.bit_select(e.bank, 1)
                                            | (banks.pre_ok.bit_select(e.bank, 1) & ~hit[i]
                                               & may_close)))
            row_ok.append(r_ok)
        return has_hit, col_ok, col_pref, row_ok

    def _choose(self, m, choice, queue, banks, ref_pending, starving, has_hit, col_ok,
                col_pref, row_ok):
        """Drive ``choice``: refresh first, then the oldest request if starving, else FR-FCFS."""
        p = self._preset
        Q = self._queue_depth
        entries = queue.entries

        def issue_entry(i, column):
            e = entries[i]
            m.d.comb += [choice.bank.eq(e.bank), choice.row.eq(e.row), choice.col.eq(e.col)]
            if column:
                m.d.comb += [choice.cmd.eq(Mux(e.we, Cmd.WR, Cmd.RD)), choice.served.eq(1),
                             choice.served_index.eq(i)]
            else:
                m.d.comb += choice.cmd.eq(Mux(banks.open.bit_select(e.bank, 1),
                                              Cmd.PRE, Cmd.ACT))

        def first_of(conditions, column):
            with m.If(conditions[0]):
                issue_entry(0, column)
            for i in range(1, Q):
                with m.Elif(conditions[i]):
                    issue_entry(i, column)

        def precharge_lowest(banks_ready):
            for b in reversed(range(p.banks)):
                with m.If(banks_ready[b]):
                    m.d.comb += [choice.cmd.eq(Cmd.PRE), choice.bank.eq(b)]

        with m.If(ref_pending):
            with m.If((banks.open == 0) & banks.ref_ok):
                m.d.comb += choice.cmd.eq(Cmd.REF)
            with m.Else():
                precharge_lowest(banks.pre_ok)
        with m.Elif(starving):
            with m.If(col_ok[0]):
                issue_entry(0, True)
            with m.Elif(row_ok[0]):
                issue_entry(0, False)
        with m.Else():
            any_pref = 0
            any_col = 0
            any_row = 0
            for i in range(Q):
                any_pref, any_col, any_row = any_pref | col_pref[i], any_col | col_ok[i], \
                    any_row | row_ok[i]
            with m.If(any_pref):
                first_of(col_pref, True)
            with m.Elif(any_col):
                first_of(col_ok, True)
            with m.Elif(any_row):
                first_of(row_ok, False)
            if self._closed_page:
                with m.Else():
                    precharge_lowest([banks.pre_ok[b] & ~has_hit[b] for b in range(p.banks)])
