"""Program builder: unit configurations, flows and done tokens -> a :class:`ProgramImage`.

This is the assembler level under the kernel compiler: a program names, per
unit, its configuration record, and, per flow, which endpoint sends it and
which endpoints receive it. Endpoints are unit indices (see
:meth:`RDUConfig.units`) or ``"agcu"``. The builder checks everything it can
before any simulation starts (unit kinds, configurations against the unit
parameters, flow ids, one sender per output port) and emits the Program Load
records in a safe order: routes, output tags and token wiring first, unit
configurations last (a unit starts its passes as soon as its record arrives).
"""

from dataclasses import dataclass, field

from hdl.network.control import control_words
from hdl.network.routes import route_words, xy_routes
from hdl.rdu.config import RDUConfig, UnitKind
from hdl.tile.config_distributor import record_header
from hdl.tile.flow_split import scalar_flow_words
from hdl.tile.output_tag import tag_word
from hdl.tile.targets import CONTROL_SINKS, config_targets
from pcu_pmu.pcu.config import PCUConfig
from pcu_pmu.pmu.config import PMUConfig

from .image import ProgramImage

__all__ = ["AGCU", "ProgramBuilder", "ProgramError"]

AGCU = "agcu"


class ProgramError(ValueError):
    """A program that cannot work on this RDU; the message names the part."""


@dataclass
class _Flow:
    source: object
    destinations: list
    fabric: str


@dataclass
class ProgramBuilder:
    """Collects one tile program for ``config``; :meth:`build` checks it and makes the image."""

    config: RDUConfig
    unit_configs: dict = field(default_factory=dict)
    flows: dict = field(default_factory=dict)
    token_units: list = field(default_factory=list)

    def unit(self, index: int, unit_config) -> "ProgramBuilder":
        kind = self._kind(index)
        expected = PCUConfig if kind == UnitKind.PCU else PMUConfig
        if not isinstance(unit_config, expected):
            raise ProgramError(f"unit {index} is a {kind.upper()}; it takes a "
                               f"{expected.__name__}, not {type(unit_config).__name__}")
        params = self.config.pcu_params() if kind == UnitKind.PCU else self.config.pmu_params()
        try:
            unit_config.validate(params)
        except ValueError as error:
            raise ProgramError(f"unit {index} ({kind.upper()}): {error}") from None
        self.unit_configs[index] = unit_config
        return self

    def flow(self, flow: int, source, destinations, fabric: str = "vector") -> "ProgramBuilder":
        """Route flow ``flow`` from ``source`` to every endpoint in ``destinations``."""
        if fabric not in ("vector", "scalar"):
            raise ProgramError(f"fabric must be 'vector' or 'scalar', not {fabric!r}")
        if not 0 <= flow < self.config.flows:
            raise ProgramError(f"flow {flow} is out of range: this RDU has flows "
                               f"0..{self.config.flows - 1}")
        if flow in self.flows:
            raise ProgramError(f"flow {flow} is routed twice")
        destinations = list(destinations)
        if not destinations:
            raise ProgramError(f"flow {flow} has no destination")
        for endpoint in [source, *destinations]:
            self._node(endpoint)
        if source != AGCU:
            for other, existing in self.flows.items():
                if existing.source == source and existing.fabric == fabric:
                    raise ProgramError(f"unit {source} already sends flow {other} on the "
                                       f"{fabric} fabric; a unit output carries one flow")
        self.flows[flow] = _Flow(source, destinations, fabric)
        return self

    def done_tokens(self, units) -> "ProgramBuilder":
        """Units whose done tokens count towards completion (PCU: one per pass; PMU: one)."""
        units = list(units)
        if len(units) > CONTROL_SINKS:
            raise ProgramError(f"at most {CONTROL_SINKS} units can signal done, not {len(units)}")
        for index in units:
            self._kind(index)
        self.token_units = units
        return self

    def build(self) -> ProgramImage:
        config, targets = self.config, config_targets(self.config)
        rows, cols = config.mesh_shape
        words = []

        def record(target: str, payload) -> None:
            payload = list(payload)
            words.append(record_header(targets[target], len(payload)))
            words.extend(payload)

        for fabric in ("vector", "scalar"):
            flows = {flow: (self._node(f.source), [self._node(d) for d in f.destinations])
                     for flow, f in self.flows.items() if f.fabric == fabric}
            # Written even when empty: the words start by clearing the previous tables.
            try:
                tables = xy_routes(rows, cols, flows, num_flows=config.flows)
            except ValueError as error:
                raise ProgramError(f"{fabric} routes: {error}") from None
            record(f"{fabric}_routes", route_words(tables, rows, cols))
        for flow, f in sorted(self.flows.items()):
            if f.source != AGCU:
                tag = "vec_tag" if f.fabric == "vector" else "scalar_tag"
                record(f"unit{f.source}.{tag}", [tag_word(flow)])
        # Every sink is written, so a previous program's token wiring never lingers.
        select = {sink: (self.token_units[sink] if sink < len(self.token_units) else None)
                  for sink in range(CONTROL_SINKS)}
        record("control", control_words(select, sources=len(config.units()),
                                        sinks=CONTROL_SINKS))
        # Always written, so a previous program's scalar flows never linger.
        record("agcu_split", scalar_flow_words(
            flow for flow, f in self.flows.items() if f.source == AGCU and f.fabric == "scalar"))
        for index, unit_config in sorted(self.unit_configs.items()):
            record(f"unit{index}", unit_config.to_words())
        return ProgramImage.for_config(config, words)

    # -- endpoints --------------------------------------------------------------------------
    def _kind(self, index) -> str:
        units = self.config.units()
        if not isinstance(index, int) or not 0 <= index < len(units):
            raise ProgramError(f"no unit {index!r}: this RDU has units 0..{len(units) - 1}")
        return units[index][0]

    def _node(self, endpoint) -> tuple[int, int]:
        if endpoint == AGCU:
            return self.config.AGCU_NODE
        self._kind(endpoint)
        return self.config.units()[endpoint][1]
