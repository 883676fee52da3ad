"""A DRAM tier's AXI4 port and passive timing checkers, from the cocotb side.

:class:`TierPort` wraps a tier's AXI port (cocotbext-axi master with seeded random
stalls) and its observation ports; :meth:`TierPort.assert_timing_clean` raises
:class:`DramTimingViolation` naming rule, commands, cycles and banks.
:class:`AxiProgress` lets :class:`~testbench.bfm.watchdog.Watchdog` watch any AXI master.
"""

import random

from memory_ctrl.timing_rules import Cmd, rule_by_id
from testbench.bfm.axi_pauses import pause_axi_master

__all__ = ["DramTimingViolation", "AxiProgress", "TierPort", "checker_report",
           "assert_timing_clean", "describe_violation"]


class DramTimingViolation(AssertionError):
    """The passive timing checker of a tier latched a violation."""


class AxiProgress:
    """Lets :class:`Watchdog` watch AXI transactions (started vs. finished)."""

    def __init__(self, name: str):
        self.name = name
        self.count = 0
        self.started = 0

    @property
    def pending(self) -> int:
        return self.started - self.count

    def describe(self) -> str:
        return f"AXI '{self.name}': {self.started} started, {self.count} finished"


class TierPort:
    """A tier's AXI4 slave port (``<axi>_*``) and observation ports (``<obs>chk_*``...)."""

    def __init__(self, dut, axi: str = "s_axi", obs: str = "", rng: random.Random | None = None,
                 stall: float = 0.0, max_burst_len: int = 256):
        from cocotbext.axi import AxiBus, AxiMaster

        self.dut = dut
        self.obs = obs
        self.name = axi
        self.master = AxiMaster(AxiBus.from_prefix(dut, axi), dut.clk, dut.rst,
                                max_burst_len=max_burst_len)
        for handle in (self.master.read_if, self.master.write_if):
            handle.log.setLevel("WARNING")
        pause_axi_master(self.master, rng or random.Random(1), stall)
        self.progress = AxiProgress(axi)

    def port(self, name: str):
        return getattr(self.dut, f"{self.obs}{name}")

    async def read(self, address: int, length: int, size=None):
        self.progress.started += 1
        result = await self.master.read(address, length, size=size)
        self.progress.count += 1
        return result

    async def write(self, address: int, data: bytes, size=None):
        self.progress.started += 1
        result = await self.master.write(address, data, size=size)
        self.progress.count += 1
        return result

    def counters(self) -> dict:
        return {name: int(self.port(name).value) for name in
                ("chk_commands", "refreshes", "acts", "col_cmds", "errors")}

    def assert_timing_clean(self, min_commands: int = 1) -> dict:
        return assert_timing_clean(self.dut, self.obs, self.name, min_commands)


def checker_report(dut, obs: str = "") -> dict:
    """The latched first violation (if any) and command count of a tier's checkers."""
    return {name: int(getattr(dut, f"{obs}chk_{name}").value) for name in (
        "violation", "channel", "rule", "cmd_a", "cmd_b", "cycle_a", "cycle_b", "bank_a",
        "bank_b", "commands")}


def assert_timing_clean(dut, obs: str = "", name: str = "tier", min_commands: int = 1) -> dict:
    """Raise on a latched violation, or if the checker saw fewer than ``min_commands``."""
    report = checker_report(dut, obs)
    if report["violation"]:
        raise DramTimingViolation(describe_violation(report, name))
    if report["commands"] < min_commands:
        raise DramTimingViolation(
            f"{name}: the timing checker saw only {report['commands']} commands "
            f"(expected at least {min_commands}): is it connected?")
    return report


def describe_violation(report: dict, where: str = "tier") -> str:
    rule = rule_by_id(report["rule"])
    cmd_a, cmd_b = Cmd(report["cmd_a"]).name, Cmd(report["cmd_b"]).name
    gap = report["cycle_b"] - report["cycle_a"]
    return (f"DRAM timing violation on {where} channel {report['channel']}: rule {rule.id} "
            f"{rule.name} ({rule.first.name} -> {rule.second.name}, {rule.scope.name}, "
            f"{rule.formula}): {cmd_a} bank {report['bank_a']} at cycle {report['cycle_a']}, "
            f"then {cmd_b} bank {report['bank_b']} at cycle {report['cycle_b']} "
            f"({gap} cycles apart)")
