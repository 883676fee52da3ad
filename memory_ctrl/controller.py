"""One DRAM channel controller: request queue, bank state, FR-FCFS, refresh."""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .device import CommandSignature
from .presets import DramPreset
from .timing_rules import RULES, Cmd, Kind, Scope

__all__ = ["ChannelController", "request_layout", "response_layout"]

_TIMED = (Cmd.ACT, Cmd.PRE, Cmd.RD, Cmd.WR, Cmd.REF)


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
        Q = self._queue_depth
        bpg = p.banks_per_group
        bus = self.bus

        # ---- queue (entry 0 is the oldest): small metadata shifts, payload stays put ----
        meta_layout = data.StructLayout({"we": 1, "bank": len(self.bus.bank),
                                         "row": len(self.bus.row), "col": len(self.bus.col),
                                         "slot": range(Q)})
        entries = [Signal(meta_layout, name=f"q{i}") for i in range(Q)]
        count = Signal(range(Q + 1))
        valid = [count > i for i in range(Q)]
        payload_bits = self._tag_bits + p.atom_bytes * 9
        payload_mem = Memory(shape=payload_bits, depth=Q, init=[])
        m.submodules.payload = payload_mem
        payload_wr = payload_mem.write_port()
        payload_rd = payload_mem.read_port(domain="comb")
        used = Signal(Q)

        # ---- bank state and timing counters ----
        is_open = Signal(p.banks)
        row_bits = len(self.bus.row)
        open_rows = Signal(row_bits * p.banks)
        max_wait = max(r.cycles(p) for r in RULES if r.kind == Kind.PAIR)
        wait = {c: Array(Signal(range(max_wait + 1), name=f"wait_{c.name}{b}")
                         for b in range(p.banks)) for c in _TIMED}
        faw = [Signal(range(p.tFAW + 1), name=f"faw{i}") for i in range(4)]
        faw_ok = 0
        for slot in faw:
            faw_ok = faw_ok | (slot == 0)

        # ---- read return path ----
        outstanding = Signal(range(self._response_depth + 1))
        m.submodules.tags = tags = fifo.SyncFIFOBuffered(width=self._tag_bits,
                                                        depth=self._response_depth)
        m.submodules.resp_fifo = resp_fifo = fifo.SyncFIFOBuffered(
            width=len(self.resp.payload.as_value()), depth=self._response_depth)
        read_credit = outstanding < self._response_depth

        # ---- refresh ----
        refi = Signal(range(p.tREFI))
        ref_pending = Signal()
        m.d.sync += refi.eq(Mux(refi == p.tREFI - 1, 0, refi + 1))
        m.d.comb += self.refresh_pending.eq(ref_pending)

        # ---- per-bank readiness, then per-entry (one-bit lookups keep the logic small) ----
        rd_ready, wr_ready, act_ready, pre_ready = (Signal(p.banks, name=n) for n in (
            "rd_ready", "wr_ready", "act_ready", "pre_ready"))
        for b in range(p.banks):
            m.d.comb += [rd_ready[b].eq((wait[Cmd.RD][b] == 0) & read_credit),
                         wr_ready[b].eq(wait[Cmd.WR][b] == 0),
                         act_ready[b].eq(~is_open[b] & (wait[Cmd.ACT][b] == 0) & faw_ok),
                         pre_ready[b].eq(is_open[b] & (wait[Cmd.PRE][b] == 0))]
        last_write = Signal()
        bypassed = Signal(range(self._starvation_bound + 1))
        starving = bypassed >= self._starvation_bound
        hit = [Signal(name=f"hit{i}") for i in range(Q)]
        has_hit = Signal(p.banks)
        has_hit_terms = [Const(0, 1)] * p.banks
        for i, e in enumerate(entries):
            m.d.comb += hit[i].eq(valid[i] & is_open.bit_select(e.bank, 1)
                                  & (open_rows.word_select(e.bank, row_bits) == e.row))
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
            m.d.comb += c_ok.eq(hit[i] & ~blocked & Mux(e.we, wr_ready.bit_select(e.bank, 1),
                                                         rd_ready.bit_select(e.bank, 1)))
            col_ok.append(c_ok)
            col_pref.append(c_ok & (e.we == last_write))
            r_ok = Signal(name=f"row_ok{i}")
            may_close = ~has_hit.bit_select(e.bank, 1) | (starving if i == 0 else Const(0, 1))
            m.d.comb += r_ok.eq(valid[i] & (act_ready.bit_select(e.bank, 1)
                                            | (pre_ready.bit_select(e.bank, 1) & ~hit[i]
                                               & may_close)))
            row_ok.append(r_ok)

        # ---- choose one command ----
        cmd = Signal(Cmd)
        cmd_bank = Signal(_bits(p.banks))
        cmd_row = Signal(_bits(p.rows))
        cmd_col = Signal(_bits(p.atoms_per_row))
        served = Signal()                 # a column command completes an entry
        served_index = Signal(range(Q))
        all_closed = is_open == 0

        def issue_entry(i, column):
            e = entries[i]
            m.d.comb += [cmd_bank.eq(e.bank), cmd_row.eq(e.row), cmd_col.eq(e.col)]
            if column:
                m.d.comb += [cmd.eq(Mux(e.we, Cmd.WR, Cmd.RD)), served.eq(1),
                             served_index.eq(i)]
            else:
                m.d.comb += cmd.eq(Mux(is_open.bit_select(e.bank, 1), Cmd.PRE, Cmd.ACT))

        def first_of(conditions, column):
            with m.If(conditions[0]):
                issue_entry(0, column)
            for i in range(1, Q):
                with m.Elif(conditions[i]):
                    issue_entry(i, column)

        with m.If(ref_pending):
            with m.If(all_closed & (wait[Cmd.REF][0] == 0)):
                m.d.comb += cmd.eq(Cmd.REF)
            with m.Else():
                for b in reversed(range(p.banks)):
                    with m.If(is_open[b] & (wait[Cmd.PRE][b] == 0)):
                        m.d.comb += [cmd.eq(Cmd.PRE), cmd_bank.eq(b)]
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
                idle = [is_open[b] & ~has_hit[b] & (wait[Cmd.PRE][b] == 0)
                        for b in range(p.banks)]
                with m.Else():
                    for b in reversed(range(p.banks)):
                        with m.If(idle[b]):
                            m.d.comb += [cmd.eq(Cmd.PRE), cmd_bank.eq(b)]

        served_slot = Signal(range(Q))
        for i in range(Q):
            with m.If(served_index == i):
                m.d.comb += served_slot.eq(entries[i].slot)
        tag_bits = self._tag_bits
        atom_bits = p.atom_bytes * 8
        m.d.comb += [payload_rd.addr.eq(served_slot),
                     bus.cmd.eq(cmd), bus.bank.eq(cmd_bank), bus.row.eq(cmd_row),
                     bus.col.eq(cmd_col),
                     bus.wdata.eq(payload_rd.data[tag_bits:tag_bits + atom_bits]),
                     bus.wmask.eq(payload_rd.data[tag_bits + atom_bits:])]

        # ---- state updates ----
        with m.If(cmd == Cmd.ACT):
            m.d.sync += [is_open.bit_select(cmd_bank, 1).eq(1),
                         open_rows.word_select(cmd_bank, row_bits).eq(cmd_row),
                         self.acts.eq(self.acts + 1)]
        with m.If(cmd == Cmd.PRE):
            m.d.sync += is_open.bit_select(cmd_bank, 1).eq(0)
        with m.If((cmd == Cmd.RD) | (cmd == Cmd.WR)):
            m.d.sync += [self.col_cmds.eq(self.col_cmds + 1), last_write.eq(cmd == Cmd.WR)]
        with m.If(refi == p.tREFI - 1):
            m.d.sync += ref_pending.eq(1)
        with m.Elif(cmd == Cmd.REF):
            m.d.sync += ref_pending.eq(0)

        # Timing counters: load (cycles - 1) on the first command of a rule, else count down.
        # Scopes nest (bank within group within channel), so for each pair of commands
        # the load depends only on how the counter's bank relates to the command's bank.
        cmd_group = Signal(range(p.bank_groups))
        m.d.comb += cmd_group.eq(cmd_bank // bpg)
        covers = {"bank": (Scope.BANK, Scope.GROUP, Scope.CHANNEL),
                  "group": (Scope.GROUP, Scope.CHANNEL), "other": (Scope.CHANNEL,)}
        load = {}
        for second in _TIMED:
            for relation, scopes in covers.items():
                value = Signal(range(max_wait + 1), name=f"load_{second.name}_{relation}")
                with m.Switch(cmd):
                    for first in _TIMED:
                        cycles = [r.cycles(p) - 1 for r in RULES if r.kind == Kind.PAIR
                                  and r.first == first and r.second == second
                                  and r.scope in scopes]
                        if cycles:
                            with m.Case(first):
                                m.d.comb += value.eq(max(cycles))
                load[second, relation] = value
        for b in range(p.banks):
            same_bank = cmd_bank == b
            same_group = cmd_group == b // bpg
            for second in _TIMED:
                counter = wait[second][b]
                down = Mux(counter == 0, 0, counter - 1)
                value = Mux(same_bank, load[second, "bank"],
                            Mux(same_group, load[second, "group"], load[second, "other"]))
                m.d.sync += counter.eq(Mux(value > down, value, down))
        free_slot = [faw[i] == 0 for i in range(4)]
        claimed = 0
        for i in range(4):
            take = (cmd == Cmd.ACT) & free_slot[i] & ~claimed
            m.d.sync += faw[i].eq(Mux(take, p.tFAW - 1, Mux(faw[i] == 0, 0, faw[i] - 1)))
            claimed = claimed | free_slot[i]

        # Starvation: count column commands that pass the oldest request.
        with m.If(served & (served_index == 0)):
            m.d.sync += bypassed.eq(0)
        with m.Elif(served & ~starving):
            m.d.sync += bypassed.eq(bypassed + 1)

        # ---- queue update: remove the served entry, append the new request ----
        accept = self.req.valid & self.req.ready
        m.d.comb += self.req.ready.eq(count < Q)
        for i in range(Q):
            with m.If(served & (i >= served_index)):
                if i + 1 < Q:
                    m.d.sync += entries[i].eq(entries[i + 1])
        tail = count - served
        free_slot = Signal(range(Q))
        for i in reversed(range(Q)):
            with m.If(~used[i]):
                m.d.comb += free_slot.eq(i)
        request = self.req.payload
        for i in range(Q):
            with m.If(accept & (tail == i)):
                m.d.sync += [entries[i].we.eq(request.we), entries[i].bank.eq(request.bank),
                             entries[i].row.eq(request.row), entries[i].col.eq(request.col),
                             entries[i].slot.eq(free_slot)]
        m.d.comb += [payload_wr.addr.eq(free_slot), payload_wr.en.eq(accept),
                     payload_wr.data.eq(Cat(request.tag, request.wdata, request.wmask))]
        used_next = used & ~Mux(served, 1 << served_slot, 0)
        m.d.sync += [count.eq(count + accept - served),
                     used.eq(used_next | Mux(accept, 1 << free_slot, 0))]

        # ---- reads: tag at the RD, data from the device CL + tBL later ----
        is_read = cmd == Cmd.RD
        m.d.comb += [tags.w_en.eq(is_read), tags.w_data.eq(payload_rd.data[:tag_bits]),
                     tags.r_en.eq(self.rdata_valid),
                     resp_fifo.w_en.eq(self.rdata_valid),
                     resp_fifo.w_data.eq(Cat(tags.r_data, self.rdata)),
                     self.resp.valid.eq(resp_fifo.r_rdy),
                     self.resp.payload.eq(resp_fifo.r_data),
                     resp_fifo.r_en.eq(self.resp.ready)]
        m.d.sync += outstanding.eq(outstanding + is_read
                                   - (self.resp.valid & self.resp.ready))
        return m

