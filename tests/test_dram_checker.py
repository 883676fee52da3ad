"""The passive DRAM timing checker catches every rule of the table, and only violations.

For each rule a command program sets the bank state up with generous gaps, then
issues the rule's two commands one cycle too close (the checker must latch exactly
that rule, both commands, both cycles and both banks) or exactly far enough apart
(nothing may be latched).

The same programs run against a checker whose DRAM clock ticks on 4 of 9 cycles
(a tier with ``clock_enable``): gaps count DRAM cycles, and each command is held on
the bus through the skipped cycles before it issues, as the controller holds it;
a checker that counted fabric cycles would see those as extra commands.
"""

import cocotb
import pytest
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge, Timer

from memory_ctrl.presets import preset
from memory_ctrl.timing_rules import RULES, Cmd, Kind, Scope
from testbench.bfm.clock_reset import start_clock_and_reset
from testbench.bfm.dram_tier import describe_violation
from testbench.bfm.sim_io import sim_args
from testbench.sim.build_cache import Design
from testbench.sim.runner import simulate

FAR = 700  # more than any pair rule of either preset


def _program(rule, p, legal: bool):
    """[(gap before, cmd, bank)], index of the rule's first and second command."""
    bpg = p.banks_per_group
    a = 0
    b = {Scope.BANK: 0, Scope.GROUP: 1, Scope.CHANNEL: bpg}[rule.scope]
    gap = rule.cycles(p) - (0 if legal else 1)
    first, second = rule.first, rule.second
    prog = []
    if rule.kind == Kind.FAW:
        banks = [0, bpg, 2 * bpg, 3 * bpg, 1]
        step = p.tRRD_L
        prog = [(FAR, Cmd.ACT, banks[0])] + [(step, Cmd.ACT, bk) for bk in banks[1:4]]
        prog.append((rule.cycles(p) - 3 * step - (0 if legal else 1), Cmd.ACT, banks[4]))
        return prog, 0, 4
    if rule.kind == Kind.STATE:
        if second == Cmd.ACT:
            return [(FAR, Cmd.ACT, 0), (FAR, Cmd.PRE if legal else Cmd.NOP, 0),
                    (FAR, Cmd.ACT, 0)], None, 2
        if second == Cmd.RD:
            return [(FAR, Cmd.ACT if legal else Cmd.NOP, 0), (FAR, Cmd.RD, 0)], None, 1
        return [(FAR, Cmd.ACT, 0), (FAR, Cmd.PRE if legal else Cmd.NOP, 0),
                (FAR, Cmd.REF, 0)], None, 2
    # set-up: the first command's bank must be open for RD/WR/PRE, closed for ACT/REF
    if first in (Cmd.RD, Cmd.WR, Cmd.PRE):
        prog.append((FAR, Cmd.ACT, a))
    if second in (Cmd.RD, Cmd.WR) and b != a:
        prog.append((FAR, Cmd.ACT, b))
    if second == Cmd.ACT and first == Cmd.ACT and b == a:
        # tRC: close the bank in between, late enough that only tRC can be short
        prog.append((FAR, Cmd.ACT, a))
        prog.append((p.tRAS, Cmd.PRE, a))
        prog.append((gap - p.tRAS, Cmd.ACT, a))
        return prog, len(prog) - 3, len(prog) - 1
    prog.append((FAR, first, a))
    index_a = len(prog) - 1
    prog.append((gap, second, b))
    return prog, index_a, len(prog) - 1


def _cases(p):
    cases = []
    for rule in RULES:
        if rule.kind == Kind.REFRESH:
            continue
        for legal in (False, True):
            prog, ia, ib = _program(rule, p, legal)
            cases.append({"rule": rule.id, "legal": legal,
                          "prog": [(int(g), int(c), int(bk)) for g, c, bk in prog],
                          "a": ia, "b": ib})
    return cases


@cocotb.test()
async def every_rule(dut):
    args = sim_args()
    await start_clock_and_reset(dut)
    checked = 0
    for case in args["cases"]:
        dut.rst.value = 1
        dut.bus__cmd.value = 0
        await ClockCycles(dut.clk, 2)
        dut.rst.value = 0
        cycles = []
        cycle = 0
        for index, (gap, cmd, bank) in enumerate(case["prog"]):
            # the previous command was sampled one edge ago: wait gap - 1 more
            wait = gap - 1 if index else gap
            if wait > 0:
                await ClockCycles(dut.clk, wait)
            cycle += gap
            dut.bus__cmd.value = cmd
            dut.bus__bank.value = bank
            cycles.append(cycle)
            await RisingEdge(dut.clk)
            dut.bus__cmd.value = 0
        await ClockCycles(dut.clk, 2)
        _check_case(dut, case, cycles)
        checked += 1
    dut._log.info(f"{checked} checker cases passed")


async def _next_cycle(dut) -> bool:
    """Step to the next cycle; whether the DRAM clock ticks in it. Inputs writable after."""
    await RisingEdge(dut.clk)
    await ReadOnly()
    enabled = bool(dut.dram_enable.value)
    await Timer(1, "ns")
    return enabled


@cocotb.test()
async def every_rule_gated(dut):
    """``every_rule`` with gaps in DRAM cycles of a clock that skips fabric cycles."""
    args = sim_args()
    await start_clock_and_reset(dut)
    checked = skipped = 0
    for case in args["cases"]:
        dut.rst.value = 1
        dut.bus__cmd.value = 0
        await ClockCycles(dut.clk, 2)
        dut.rst.value = 0
        dram_cycle = 0
        cycles = []
        for gap, cmd, bank in case["prog"]:
            assert gap >= 1, f"case {case}: two commands in one cycle"
            target = (cycles[-1] if cycles else 0) + gap
            while True:
                enabled = await _next_cycle(dut)
                dram_cycle += enabled
                # the command is on the bus from the skipped cycles before its DRAM cycle on
                due = dram_cycle == target if enabled else dram_cycle + 1 == target
                dut.bus__cmd.value = cmd if due else 0
                dut.bus__bank.value = bank
                skipped += due and not enabled
                if enabled and due:
                    break
            cycles.append(target)
        await _next_cycle(dut)
        dut.bus__cmd.value = 0
        await ClockCycles(dut.clk, 4)
        _check_case(dut, case, cycles)
        checked += 1
    assert skipped > 0, "no command was held through a skipped cycle: is the clock gated?"
    dut._log.info(f"{checked} checker cases passed in the gated DRAM clock; commands held "
                  f"through {skipped} skipped cycles")


def _check_case(dut, case, cycles):
    """The checker latched exactly the case's violation (or nothing, for a legal case)."""
    report = {n: int(getattr(dut, n).value) for n in (
        "violation", "rule", "cmd_a", "cmd_b", "cycle_a", "cycle_b", "bank_a", "bank_b",
        "commands")}
    report["channel"] = 0
    what = f"rule {case['rule']} {'legal' if case['legal'] else 'violating'} {case['prog']}"
    if case["legal"]:
        assert not report["violation"], f"{what}: false alarm: {describe_violation(report)}"
    else:
        assert report["violation"], f"{what}: not detected"
        assert report["rule"] == case["rule"], f"{what}: {describe_violation(report)}"
        _, cmd_b, bank_b = case["prog"][case["b"]]
        assert (report["cmd_b"], report["bank_b"]) == (cmd_b, bank_b), describe_violation(
            report)
        if case["a"] is not None:
            _, cmd_a, bank_a = case["prog"][case["a"]]
            gap = cycles[case["b"]] - cycles[case["a"]]
            assert (report["cmd_a"], report["bank_a"]) == (cmd_a, bank_a), describe_violation(
                report)
            assert report["cycle_b"] - report["cycle_a"] == gap, describe_violation(report)


@cocotb.test()
async def refresh_overdue(dut):
    args = sim_args()
    await start_clock_and_reset(dut)
    bound = args["bound"]
    await ClockCycles(dut.clk, bound - 10)
    assert not int(dut.violation.value), "refresh reported overdue too early"
    await ClockCycles(dut.clk, 20)
    assert int(dut.violation.value) and int(dut.rule.value) == 21, "overdue refresh not flagged"


@pytest.mark.parametrize("name", ["hbm2", "ddr4_3200"])
def test_checker_rules(name, waves, run_name):
    p = preset(name)
    design = Design(f"dram_checker_{name}", "memory_ctrl.timing_checker:make_checker",
                    {"preset_name": name})
    simulate(design, "test_dram_checker", testcase="every_rule", run_name=run_name, seed=1,
             waves=waves, args={"cases": _cases(p)})
    bound = next(r for r in RULES if r.kind == Kind.REFRESH).cycles(p)
    simulate(design, "test_dram_checker", testcase="refresh_overdue", run_name=run_name + "_ref",
             seed=1, waves=waves, args={"bound": bound})


# The gated DDR4 checker is one more build; it runs with `make regress`.
@pytest.mark.parametrize("name", ["hbm2", pytest.param("ddr4_3200", marks=pytest.mark.regress)])
def test_checker_rules_gated_clock(name, waves, run_name):
    design = Design(f"dram_checker_gated_{name}", "memory_ctrl.timing_checker:make_checker",
                    {"preset_name": name, "clock_enable": [4, 9]})
    simulate(design, "test_dram_checker", testcase="every_rule_gated", run_name=run_name,
             seed=1, waves=waves, args={"cases": _cases(preset(name))})
