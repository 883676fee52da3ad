"""The DRAM timing rules as a table: one source for the controller and the checker.

A rule says: after command ``first`` at a bank, command ``second`` at a bank in
``scope`` (the same bank, the same bank group, or anywhere on the channel) may
not be issued fewer than ``cycles(preset)`` cycles later. Special rules (tFAW,
the refresh interval and the bank-state rules) carry their own kind.
"""

import ast
import functools
from dataclasses import dataclass
from enum import IntEnum

from .presets import DramPreset

__all__ = ["Cmd", "Scope", "Kind", "Rule", "RULES", "rule_table", "rule_by_id"]


class Cmd(IntEnum):
    """Command bus encoding shared by controller, device and checker."""

    NOP = 0
    ACT = 1
    PRE = 2
    RD = 3
    WR = 4
    REF = 5


class Scope(IntEnum):
    BANK = 0
    GROUP = 1    # same bank group (the same bank included)
    CHANNEL = 2  # any bank of the channel


class Kind(IntEnum):
    PAIR = 0       # minimum distance between two commands
    FAW = 1        # at most four ACTs in any tFAW window
    REFRESH = 2    # maximum distance between two REFs (or from reset to the first)
    STATE = 3      # a command the bank's state does not allow


@dataclass(frozen=True)
class Rule:
    id: int
    name: str
    kind: Kind
    first: Cmd
    second: Cmd
    scope: Scope
    formula: str

    def cycles(self, p: DramPreset) -> int:
        """The rule's distance in DRAM cycles under preset ``p``."""
        return int(_evaluate(_parse(self.formula), _timing_names(p)))


def _timing_names(p: DramPreset) -> dict:
    names = {f.name: getattr(p, f.name) for f in p.__dataclass_fields__.values()}
    names["tBL"] = p.burst_cycles
    return names


_OPERATORS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
              ast.Mult: lambda a, b: a * b}


@functools.cache
def _parse(formula: str) -> ast.expr:
    """The formula's syntax tree; only integers, timing names, + - *, and max() are allowed."""
    tree = ast.parse(formula, mode="eval").body
    for node in ast.walk(tree):
        allowed = (isinstance(node, (ast.BinOp, ast.Name, ast.Load, *_OPERATORS))
                   or (isinstance(node, ast.Constant) and type(node.value) is int)
                   or (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                       and node.func.id == "max" and len(node.args) >= 2 and not node.keywords))
        if not allowed:
            raise ValueError(f"timing formula {formula!r}: {ast.dump(node)} is not allowed")
    return tree


def _evaluate(node: ast.expr, names: dict) -> int:
    """Value of a tree checked by :func:`_parse`, with timing names looked up in ``names``."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return names[node.id]
    if isinstance(node, ast.BinOp):
        return _OPERATORS[type(node.op)](_evaluate(node.left, names),
                                         _evaluate(node.right, names))
    return max(_evaluate(arg, names) for arg in node.args)


RULES = (
    Rule(1, "tRCD", Kind.PAIR, Cmd.ACT, Cmd.RD, Scope.BANK, "tRCD"),
    Rule(2, "tRCD", Kind.PAIR, Cmd.ACT, Cmd.WR, Scope.BANK, "tRCD"),
    Rule(3, "tRAS", Kind.PAIR, Cmd.ACT, Cmd.PRE, Scope.BANK, "tRAS"),
    Rule(4, "tRC", Kind.PAIR, Cmd.ACT, Cmd.ACT, Scope.BANK, "tRC"),
    Rule(5, "tRP", Kind.PAIR, Cmd.PRE, Cmd.ACT, Scope.BANK, "tRP"),
    Rule(6, "tRRD_L", Kind.PAIR, Cmd.ACT, Cmd.ACT, Scope.GROUP, "tRRD_L"),
    Rule(7, "tRRD_S", Kind.PAIR, Cmd.ACT, Cmd.ACT, Scope.CHANNEL, "tRRD_S"),
    Rule(8, "tCCD_L", Kind.PAIR, Cmd.RD, Cmd.RD, Scope.GROUP, "max(tCCD_L, tBL)"),
    Rule(9, "tCCD_S", Kind.PAIR, Cmd.RD, Cmd.RD, Scope.CHANNEL, "max(tCCD_S, tBL)"),
    Rule(10, "tCCD_L", Kind.PAIR, Cmd.WR, Cmd.WR, Scope.GROUP, "max(tCCD_L, tBL)"),
    Rule(11, "tCCD_S", Kind.PAIR, Cmd.WR, Cmd.WR, Scope.CHANNEL, "max(tCCD_S, tBL)"),
    Rule(12, "tWTR_L", Kind.PAIR, Cmd.WR, Cmd.RD, Scope.GROUP, "CWL + tBL + tWTR_L"),
    Rule(13, "tWTR_S", Kind.PAIR, Cmd.WR, Cmd.RD, Scope.CHANNEL, "CWL + tBL + tWTR_S"),
    Rule(14, "CL/CWL read-to-write", Kind.PAIR, Cmd.RD, Cmd.WR, Scope.CHANNEL,
         "max(CL + tBL + tRTRS - CWL, 1)"),
    Rule(15, "tRTP", Kind.PAIR, Cmd.RD, Cmd.PRE, Scope.BANK, "tRTP"),
    Rule(16, "tWR", Kind.PAIR, Cmd.WR, Cmd.PRE, Scope.BANK, "CWL + tBL + tWR"),
    Rule(17, "tRFC", Kind.PAIR, Cmd.REF, Cmd.ACT, Scope.CHANNEL, "tRFC"),
    Rule(18, "tRFC", Kind.PAIR, Cmd.REF, Cmd.REF, Scope.CHANNEL, "tRFC"),
    Rule(19, "tRP", Kind.PAIR, Cmd.PRE, Cmd.REF, Scope.CHANNEL, "tRP"),
    Rule(20, "tFAW", Kind.FAW, Cmd.ACT, Cmd.ACT, Scope.CHANNEL, "tFAW"),
    Rule(21, "tREFI", Kind.REFRESH, Cmd.REF, Cmd.REF, Scope.CHANNEL,
         "(max_postponed_refs + 1) * tREFI"),
    Rule(22, "ACT to an open bank", Kind.STATE, Cmd.NOP, Cmd.ACT, Scope.BANK, "0"),
    Rule(23, "RD/WR to a closed bank", Kind.STATE, Cmd.NOP, Cmd.RD, Scope.BANK, "0"),
    Rule(24, "REF with a bank open", Kind.STATE, Cmd.NOP, Cmd.REF, Scope.CHANNEL, "0"),
)


def rule_by_id(rule_id: int) -> Rule:
    for rule in RULES:
        if rule.id == rule_id:
            return rule
    raise ValueError(f"no DRAM timing rule with id {rule_id}")


def rule_table(p: DramPreset) -> list[tuple[int, str, str, str, str, int]]:
    """(id, name, first, second, scope, cycles) for every rule under preset ``p``."""
    return [(r.id, r.name, r.first.name, r.second.name, r.scope.name, r.cycles(p)) for r in RULES]
