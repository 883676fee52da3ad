"""Passive DRAM timing checker: watches a command bus, latches the first violation.

It implements :data:`memory_ctrl.timing_rules.RULES` independently of the
controller (time stamps per bank, bank group and channel instead of the
controller's down-counters), so a rule the controller gets wrong shows up here.
"""

from amaranth.hdl import EnableInserter, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .clock_enable import FractionalClockEnable
from .device import CommandSignature
from .presets import DramPreset, preset
from .timing_rules import RULES, Cmd, Kind, Scope

__all__ = ["TimingChecker", "GatedCheckerTop", "CYCLE_BITS", "make_checker"]

CYCLE_BITS = 32


class _Stamps:
    """Last time (and bank) a command happened, per instance of one scope (flat vectors)."""

    def __init__(self, name, count, bank_bits):
        self.valid = Signal(count, name=f"{name}_valid")
        self.cycle = Signal(count * CYCLE_BITS, name=f"{name}_cycle")
        self.bank = Signal(count * bank_bits, name=f"{name}_bank")
        self.bank_bits = bank_bits

    def lookup(self, index):
        return (self.valid.bit_select(index, 1), self.cycle.word_select(index, CYCLE_BITS),
                self.bank.word_select(index, self.bank_bits))

    def record(self, index, now, bank):
        return [self.valid.bit_select(index, 1).eq(1),
                self.cycle.word_select(index, CYCLE_BITS).eq(now),
                self.bank.word_select(index, self.bank_bits).eq(bank)]


class TimingChecker(wiring.Component):
    """Latches rule id, both commands, both cycles and both banks of the first violation.

    ``commands`` counts every command checked (so a test can assert the checker saw
    traffic); ``refreshes`` counts REFs.
    """

    def __init__(self, preset: DramPreset):
        self._preset = preset
        bank_bits = max(1, (preset.banks - 1).bit_length())
        super().__init__({
            "bus": In(CommandSignature(preset)),
            "violation": Out(1),
            "rule": Out(6),
            "cmd_a": Out(3), "cmd_b": Out(3),
            "cycle_a": Out(CYCLE_BITS), "cycle_b": Out(CYCLE_BITS),
            "bank_a": Out(bank_bits), "bank_b": Out(bank_bits),
            "commands": Out(32),
            "refreshes": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        p = self._preset
        bus = self.bus
        bank_bits = len(bus.bank)
        bpg = p.banks_per_group
        now = Signal(CYCLE_BITS)
        m.d.sync += now.eq(now + 1)
        group = Signal(range(p.bank_groups))
        m.d.comb += group.eq(bus.bank // bpg)

        stamps = {}
        for rule in RULES:
            if rule.kind != Kind.PAIR:
                continue
            key = (rule.first, rule.scope)
            if key in stamps:
                continue
            count = {Scope.BANK: p.banks, Scope.GROUP: p.bank_groups, Scope.CHANNEL: 1}[rule.scope]
            stamps[key] = _Stamps(f"{rule.first.name}_{rule.scope.name}", count, bank_bits)

        def instance(scope):
            return {Scope.BANK: bus.bank, Scope.GROUP: group, Scope.CHANNEL: 0}[scope]

        # Each candidate: (condition, rule id, cmd_a, cycle_a, bank_a); first one listed wins.
        candidates = []
        for rule in RULES:
            if rule.kind == Kind.PAIR:
                valid, cycle, bank = stamps[(rule.first, rule.scope)].lookup(
                    instance(rule.scope))
                hit = (bus.cmd == rule.second) & valid & ((now - cycle) < rule.cycles(p))
                candidates.append((hit, rule.id, rule.first, cycle, bank))

        faw = [_Stamps(f"faw{i}", 1, bank_bits) for i in range(4)]  # faw[3] is the oldest
        faw_rule = next(r for r in RULES if r.kind == Kind.FAW)
        candidates.append(((bus.cmd == Cmd.ACT) & faw[3].valid
                           & ((now - faw[3].cycle) < faw_rule.cycles(p)),
                           faw_rule.id, Cmd.ACT, faw[3].cycle, faw[3].bank))

        open_banks = Signal(p.banks)
        is_open = open_banks.bit_select(bus.bank, 1)
        any_open = open_banks != 0
        state = {r.second: r for r in RULES if r.kind == Kind.STATE}
        candidates.append(((bus.cmd == Cmd.ACT) & is_open, state[Cmd.ACT].id,
                           Cmd.NOP, now, bus.bank))
        candidates.append((((bus.cmd == Cmd.RD) | (bus.cmd == Cmd.WR)) & ~is_open,
                           state[Cmd.RD].id, Cmd.NOP, now, bus.bank))
        candidates.append(((bus.cmd == Cmd.REF) & any_open, state[Cmd.REF].id,
                           Cmd.NOP, now, bus.bank))

        refresh_rule = next(r for r in RULES if r.kind == Kind.REFRESH)
        last_ref = Signal(CYCLE_BITS)
        overdue = (now - last_ref) > refresh_rule.cycles(p)

        with m.If(~self.violation):
            with m.If(overdue):
                m.d.sync += [self.violation.eq(1), self.rule.eq(refresh_rule.id),
                             self.cmd_a.eq(Cmd.REF), self.cycle_a.eq(last_ref),
                             self.cmd_b.eq(Cmd.NOP), self.cycle_b.eq(now),
                             self.bank_a.eq(0), self.bank_b.eq(0)]
            for hit, rule_id, cmd_a, cycle_a, bank_a in reversed(candidates):
                with m.If(hit):
                    m.d.sync += [self.violation.eq(1), self.rule.eq(rule_id),
                                 self.cmd_a.eq(cmd_a), self.cycle_a.eq(cycle_a),
                                 self.bank_a.eq(bank_a), self.cmd_b.eq(bus.cmd),
                                 self.cycle_b.eq(now), self.bank_b.eq(bus.bank)]

        with m.If(bus.cmd != Cmd.NOP):
            m.d.sync += self.commands.eq(self.commands + 1)
        for (cmd, scope), table in stamps.items():
            with m.If(bus.cmd == cmd):
                m.d.sync += table.record(instance(scope), now, bus.bank)
        with m.If(bus.cmd == Cmd.ACT):
            m.d.sync += open_banks.bit_select(bus.bank, 1).eq(1)
            m.d.sync += [faw[0].valid.eq(1), faw[0].cycle.eq(now), faw[0].bank.eq(bus.bank)]
            for i in range(1, 4):
                m.d.sync += [faw[i].valid.eq(faw[i - 1].valid), faw[i].cycle.eq(faw[i - 1].cycle),
                             faw[i].bank.eq(faw[i - 1].bank)]
        with m.If(bus.cmd == Cmd.PRE):
            m.d.sync += open_banks.bit_select(bus.bank, 1).eq(0)
        with m.If(bus.cmd == Cmd.REF):
            m.d.sync += [last_ref.eq(now), self.refreshes.eq(self.refreshes + 1)]
        return m


class GatedCheckerTop(wiring.Component):
    """A checker in a DRAM clock that ticks on k of n cycles, as a tier with
    ``clock_enable = (k, n)`` has it: the ports of :class:`TimingChecker` plus
    ``dram_enable``. Commands count, and cycles are stamped, only in enabled cycles.
    """

    def __init__(self, preset: DramPreset, clock_enable: tuple[int, int]):
        self._checker = TimingChecker(preset)
        self._clock_enable = tuple(clock_enable)
        members = dict(self._checker.signature.members)
        members["dram_enable"] = Out(1)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.dram_clock = clock = FractionalClockEnable(*self._clock_enable)
        chk = self._checker
        m.submodules.checker = EnableInserter(clock.enable)(chk)
        m.d.comb += self.dram_enable.eq(clock.enable)
        for name in self.signature.members:
            if name == "bus":
                m.d.comb += [getattr(chk.bus, n).eq(getattr(self.bus, n))
                             for n in ("cmd", "bank", "row", "col", "wdata", "wmask")]
            elif name != "dram_enable":
                m.d.comb += getattr(self, name).eq(getattr(chk, name))
        return m


def make_checker(preset_name: str = "hbm2",
                 clock_enable: list | None = None) -> TimingChecker | GatedCheckerTop:
    """``Design`` factory of a stand-alone checker (for its own tests); with
    ``clock_enable = [k, n]`` the checker runs in a DRAM clock gated to k of n cycles."""
    if clock_enable is None:
        return TimingChecker(preset(preset_name))
    return GatedCheckerTop(preset(preset_name), tuple(clock_enable))
