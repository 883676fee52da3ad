"""Per-bank state and command timing of one DRAM channel, as its controller tracks them."""

from amaranth.hdl import Array, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .presets import DramPreset
from .timing_rules import RULES, Cmd, Kind, Scope

__all__ = ["BankTracker"]

_TIMED = (Cmd.ACT, Cmd.PRE, Cmd.RD, Cmd.WR, Cmd.REF)


def _bits(count: int) -> int:
    return max(1, (count - 1).bit_length())


class BankTracker(wiring.Component):
    """Which banks are open (at which row) and which commands their timing allows now.

    Follows the command issued in each cycle (``cmd``, ``bank``, ``row``). Timing:
    one down-counter per bank and command type, loaded from the rule table of
    :mod:`memory_ctrl.timing_rules`, plus four tFAW slots. Readiness per bank
    (bit ``b`` of each): ``rd_ok``/``wr_ok`` (timing only), ``act_ok`` (closed,
    timing and tFAW), ``pre_ok`` (open and timing); ``ref_ok`` for the channel.
    """

    def __init__(self, preset: DramPreset):
        self._preset = preset
        banks = preset.banks
        super().__init__({
            "cmd": In(Cmd), "bank": In(_bits(banks)), "row": In(_bits(preset.rows)),
            "open": Out(banks), "open_rows": Out(_bits(preset.rows) * banks),
            "rd_ok": Out(banks), "wr_ok": Out(banks), "act_ok": Out(banks),
            "pre_ok": Out(banks), "ref_ok": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        p = self._preset
        bpg = p.banks_per_group
        cmd, cmd_bank = self.cmd, self.bank
        is_open = self.open
        row_bits = len(self.row)

        max_wait = max(r.cycles(p) for r in RULES if r.kind == Kind.PAIR)
        wait = {c: Array(Signal(range(max_wait + 1), name=f"wait_{c.name}{b}")
                         for b in range(p.banks)) for c in _TIMED}
        faw = [Signal(range(p.tFAW + 1), name=f"faw{i}") for i in range(4)]
        faw_ok = 0
        for slot in faw:
            faw_ok = faw_ok | (slot == 0)
        for b in range(p.banks):
            m.d.comb += [self.rd_ok[b].eq(wait[Cmd.RD][b] == 0),
                         self.wr_ok[b].eq(wait[Cmd.WR][b] == 0),
                         self.act_ok[b].eq(~is_open[b] & (wait[Cmd.ACT][b] == 0) & faw_ok),
                         self.pre_ok[b].eq(is_open[b] & (wait[Cmd.PRE][b] == 0))]
        m.d.comb += self.ref_ok.eq(wait[Cmd.REF][0] == 0)

        with m.If(cmd == Cmd.ACT):
            m.d.sync += [is_open.bit_select(cmd_bank, 1).eq(1),
                         self.open_rows.word_select(cmd_bank, row_bits).eq(self.row)]
        with m.If(cmd == Cmd.PRE):
            m.d.sync += is_open.bit_select(cmd_bank, 1).eq(0)

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
        return m
