"""Configuration targets of a tile: where each Program Load record goes.

Unit ``i`` (in :meth:`RDUParams.units` order) owns three targets: its
configuration port, the tag of its vector output and the tag of its scalar
output. After the units come the vector and scalar route tables, the control
fabric and the AGCU node's flow split.

Control fabric ports: sources ``0 .. units-1`` are the units' done tokens,
``units + i`` unit ``i``'s pass token (:func:`pass_token_source`); sinks
``0 .. CONTROL_SINKS-1`` feed the AGCU's done count, sink ``CONTROL_SINKS + i``
is unit ``i``'s credit line (:func:`credit_sink`; only PMUs use it).
"""

from hdl.rdu.config import RDUParams

__all__ = ["config_targets", "TARGETS_PER_UNIT", "CONTROL_SINKS", "control_sources",
           "control_sinks", "pass_token_source", "credit_sink"]

TARGETS_PER_UNIT = 3
# Control-fabric sinks that feed the AGCU's done-token input.
CONTROL_SINKS = 4


def config_targets(config: RDUParams) -> dict[str, int]:
    """Target name -> index: ``unit<i>``, ``unit<i>.vec_tag``, ``unit<i>.scalar_tag``,
    ``vector_routes``, ``scalar_routes``, ``control``, ``agcu_split``."""
    targets = {}
    for i, _ in enumerate(config.units()):
        targets[f"unit{i}"] = TARGETS_PER_UNIT * i
        targets[f"unit{i}.vec_tag"] = TARGETS_PER_UNIT * i + 1
        targets[f"unit{i}.scalar_tag"] = TARGETS_PER_UNIT * i + 2
    base = TARGETS_PER_UNIT * len(config.units())
    targets.update({"vector_routes": base, "scalar_routes": base + 1, "control": base + 2,
                    "agcu_split": base + 3})
    return targets


def control_sources(config: RDUParams) -> int:
    """Source lines of the control fabric: a done token and a pass token per unit."""
    return 2 * len(config.units())


def control_sinks(config: RDUParams) -> int:
    """Sink lines of the control fabric: the AGCU's done sinks and a credit line per unit."""
    return CONTROL_SINKS + len(config.units())


def pass_token_source(config: RDUParams, unit: int) -> int:
    """The control source of unit ``unit``'s pass token (PCU: a pass; PMU: a buffer drained)."""
    return len(config.units()) + unit


def credit_sink(config: RDUParams, unit: int) -> int:
    """The control sink of unit ``unit``'s credit line."""
    return CONTROL_SINKS + unit
