"""Configuration targets of a tile: where each Program Load record goes.

Unit ``i`` (in :meth:`RDUConfig.units` order) owns three targets: its
configuration port, the tag of its vector output and the tag of its scalar
output. After the units come the vector and scalar route tables, the control
fabric and the AGCU node's flow split.
"""

from hdl.rdu.config import RDUConfig

__all__ = ["config_targets", "TARGETS_PER_UNIT", "CONTROL_SINKS"]

TARGETS_PER_UNIT = 3
# Control-fabric sinks that feed the AGCU's done-token input.
CONTROL_SINKS = 4


def config_targets(config: RDUConfig) -> dict[str, int]:
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
