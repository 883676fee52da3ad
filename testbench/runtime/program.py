"""Program builder: unit configurations, flows and done tokens -> a :class:`ProgramImage`.

This is the assembler level under the kernel compiler: a program names, per
unit, its configuration record, and, per flow, which endpoint sends it and
which endpoints receive it. Endpoints are unit indices (see
:meth:`RDUParams.units`) or ``"agcu"``. The builder checks everything it can
before any simulation starts (unit kinds, configurations against the unit
parameters, flow ids, one sender per output port) and emits the Program Load
records in a safe order: routes, output tags and token wiring first, unit
configurations last (a unit starts its passes as soon as its record arrives).

Pipeline-stage credits: :meth:`ProgramBuilder.credits` routes a consumer's pass
tokens (a PMU's per drained buffer, a PCU's per pass) on the control fabric to a
producer PMU's credit line; the producer's :class:`PMUConfig` sets
``read_credits`` (and ``initial_credits``, usually the consumer's buffers).
"""

from dataclasses import dataclass, field

from hdl.network.control import control_words
from hdl.network.routes import route_words, xy_routes
from hdl.rdu.config import RDUParams, UnitKind
from hdl.tile.config_distributor import record_header
from hdl.tile.flow_split import scalar_flow_words
from hdl.tile.output_tag import tag_word
from hdl.tile.targets import (
    CONTROL_SINKS,
    config_targets,
    control_sinks,
    control_sources,
    credit_sink,
    pass_token_source,
)
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
    first_seq: int = 0


@dataclass
class ProgramBuilder:
    """Collects one tile program for ``config``; :meth:`build` checks it and makes the image."""

    config: RDUParams
    unit_configs: dict = field(default_factory=dict)
    flows: dict = field(default_factory=dict)
    token_units: list = field(default_factory=list)
    credit_routes: dict = field(default_factory=dict)

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

    def flow(self, flow: int, source, destinations, fabric: str = "vector", *,
             first_seq: int = 0) -> "ProgramBuilder":
        """Route flow ``flow`` from ``source`` to every endpoint in ``destinations``.

        ``first_seq``: the sequence number of a unit source's first flit (its output
        tag counts up from it), for a PMU that reorders several sources; an AGCU
        stream's first seq is in its stream descriptor instead.
        """
        if not isinstance(first_seq, int) or not 0 <= first_seq < 256:
            raise ProgramError(f"first_seq {first_seq!r} does not fit 8 bits")
        if first_seq and source == AGCU:
            raise ProgramError("an AGCU flow's first seq is set by its stream descriptor "
                               "(StreamDescriptor.first_seq), not by the route")
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
        self.flows[flow] = _Flow(source, destinations, fabric, first_seq)
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

    def credits(self, producer: int, consumer: int) -> "ProgramBuilder":
        """Give PMU ``producer`` a credit per pass token of unit ``consumer`` (the stage it
        feeds): a PMU consumer's token marks a drained buffer, a PCU's a finished pass."""
        if self._kind(producer) != UnitKind.PMU:
            raise ProgramError(f"unit {producer} is a PCU; only a PMU waits for credits")
        self._kind(consumer)
        if producer in self.credit_routes:
            raise ProgramError(f"unit {producer} already takes credits from unit "
                               f"{self.credit_routes[producer]}")
        self.credit_routes[producer] = consumer
        return self

    def _check_credits(self) -> None:
        for index, unit_config in self.unit_configs.items():
            if not isinstance(unit_config, PMUConfig):
                continue
            routed = index in self.credit_routes
            if routed and not unit_config.read_credits:
                raise ProgramError(f"unit {index} takes credits from unit "
                                   f"{self.credit_routes[index]} but its configuration does "
                                   "not set read_credits")
            initial, passes = unit_config.initial_credits, unit_config.passes
            if unit_config.read_credits and not routed and initial < passes:
                raise ProgramError(f"unit {index} sets read_credits with {initial} initial "
                                   f"credits for {passes} passes and no credit route: it "
                                   "would wait forever")

    def build(self) -> ProgramImage:
        self._check_credits()
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
                record(f"unit{f.source}.{tag}", [tag_word(flow, f.first_seq)])
        # Every sink is written, so a previous program's token wiring never lingers.
        select = {sink: (self.token_units[sink] if sink < len(self.token_units) else None)
                  for sink in range(CONTROL_SINKS)}
        for index in range(len(config.units())):
            consumer = self.credit_routes.get(index)
            select[credit_sink(config, index)] = (
                None if consumer is None else pass_token_source(config, consumer))
        record("control", control_words(select, sources=control_sources(config),
                                        sinks=control_sinks(config)))
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
