"""The tile: a checkerboard of PCUs and PMUs joined by the network, fed by an AGCU.

Geometry (see :class:`~hdl.rdu.config.RDUParams`): units sit on mesh nodes
``(r, c + 1)``; the AGCU sits on node ``(0, 0)``. Two meshes carry data, both
with credits on every hop and static flow-ID routes: the vector fabric (one
vector of ``lanes`` x 32 bits per flit) and the scalar fabric (32 bits). Each
unit's outputs pass through an :class:`~.output_tag.OutputTag` that gives its
beats a flow and sequence numbers; its inputs take the payload of the flits
ejected at its node. The AGCU injects and ejects vector flits at its node;
scalars ejected there are widened to vectors (value in lane 0) and merged into
the AGCU's input, so reductions reach memory.

Control: a PCU raises one done token per finished pass (its ``done`` stream), a
PMU one per configuration, when all its passes are done (its ``busy`` falling).
The circuit-switched control fabric connects those tokens to
:data:`~.targets.CONTROL_SINKS` sinks whose tokens all count towards the AGCU's
kernel-completion condition. Control sources (:func:`~.targets.control_source`):
``i`` is unit ``i``'s done token, ``units + i`` its pass token (PCU: its done
token again; PMU: one per finished read pass, i.e. per buffer drained). Sink
``CONTROL_SINKS + i`` (:func:`~.targets.credit_sink`) are unit ``i``'s
credit line: a PMU whose configuration sets ``read_credits`` starts a read pass
only with a credit in hand (pipeline-stage credits). A
:class:`~.stage_credit_checker.StageCreditChecker` per PMU watches that no pass
starts without a credit; its error joins ``credit_error``.

PMU inputs: a PMU's vector flits pass through a :class:`~.pmu_input.PMUInput`,
which reorders them by ``seq`` (window :data:`REORDER_WINDOW`) while the PMU's
configuration sets ``reorder_input``, and is cleared when the PMU is configured.
Sequence numbers for a PMU that reorders: its flits of one configuration are
numbered 0, 1, 2, ... (mod 256) in the order the PMU must write them; each
source numbers its own flits consecutively from a configured first seq (an
AGCU READ descriptor's ``first_seq``, a unit's output tag's ``first_seq``), so
with several sources source ``j`` starts where the sources before it end, and
they run concurrently: their flits arrive interleaved and the reorder buffer
puts them back in order. A source whose flits run ``REORDER_WINDOW`` or more ahead
of the next seq due is held at the node and holds the flows behind it, so
programs keep the flits in flight to a reordering PMU within the window.

The AGCU's node: its flits enter the vector mesh, or the scalar mesh for the flows
a program routes there (:class:`~.flow_split.FlowSplit`).

Configuration: the AGCU's Program Load stream goes through a
:class:`~.config_distributor.ConfigDistributor` whose targets are listed by
:func:`~.targets.config_targets`.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.agcu.agcu import AGCU
from hdl.agcu.commands import command_layout
from hdl.bus import AXI4Signature
from hdl.network.control import ControlFabric
from hdl.network.flit import flit_layout
from hdl.network.mesh import Mesh
from hdl.rdu.config import RDUParams, UnitKind
from pcu_pmu.pcu.pcu import PCU
from pcu_pmu.pcu.shared_modules import SharedModules
from pcu_pmu.pmu.pmu import PMU

from .config_distributor import ConfigDistributor
from .flit_merge import FlitMerge
from .flow_split import FlowSplit
from .output_tag import OutputTag
from .pmu_input import PMUInput
from .stage_credit_checker import StageCreditChecker
from .targets import (
    CONTROL_SINKS,
    TARGETS_PER_UNIT,
    config_targets,
    control_sinks,
    control_sources,
    credit_sink,
)
from .token_collector import TokenCollector
from .unit_counters import COUNTERS_PER_UNIT, UnitCounters

__all__ = ["Tile", "MEM_ID_WIDTH", "ADDR_WIDTH", "REORDER_WINDOW"]

ADDR_WIDTH = 32
MEM_ID_WIDTH = 4
# Reorder slots at each PMU's vector input: how far ahead of the next seq due a flit may be.
REORDER_WINDOW = 16


class Tile(wiring.Component):
    """PCUs, PMUs, vector/scalar meshes, control fabric and one AGCU, per ``config``.

    ``agcu_factory(**options)`` builds the AGCU (same options and ports as
    :class:`~hdl.agcu.agcu.AGCU`); a multi-socket system passes one that puts a link
    port in front of it.
    """

    def __init__(self, config: RDUParams, shared: SharedModules | None = None, *,
                 agcu_factory=AGCU):
        if not isinstance(config, RDUParams):
            raise TypeError(f"config must be an RDUParams, not {type(config).__name__}")
        self._config = config
        self._shared = shared if shared is not None else SharedModules()
        self._agcu_factory = agcu_factory
        units = len(config.units())
        super().__init__({
            "mem": Out(AXI4Signature(addr_width=ADDR_WIDTH, data_width=config.vector_bits,
                                     id_width=MEM_ID_WIDTH)),
            "cmd": In(stream.Signature(command_layout())),
            "busy": Out(1),
            "error": Out(1),
            "config_error": Out(1),
            "credit_error": Out(1),
            "kernels_done": Out(32),
            "commands_done": Out(32),
            "kernel_cycles": Out(32),
            "program_cycles": Out(32),
            "counters": Out(data.ArrayLayout(32, COUNTERS_PER_UNIT * units)),
            # Per unit, the counters' increments this cycle (unit i at bits 3i..3i+2).
            "counter_events": Out(COUNTERS_PER_UNIT * units),
        })

    @property
    def config(self) -> RDUParams:
        return self._config

    @property
    def shared(self) -> SharedModules:
        return self._shared

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        units = cfg.units()
        vec_bits = cfg.vector_bits
        mesh_rows, mesh_cols = cfg.mesh_shape
        targets = config_targets(cfg)

        m.submodules.agcu = agcu = self._agcu_factory(
            data_width=vec_bits, addr_width=ADDR_WIDTH, id_width=MEM_ID_WIDTH,
            max_streams=cfg.agcu_streams, outstanding=cfg.agcu_outstanding)
        m.submodules.vector_mesh = vmesh = Mesh(mesh_rows, mesh_cols, vec_bits, flows=cfg.flows,
                                                buffer_depth=cfg.link_buffer_depth,
                                                link_registers=cfg.link_registers)
        m.submodules.scalar_mesh = smesh = Mesh(mesh_rows, mesh_cols, 32, flows=cfg.flows,
                                                buffer_depth=cfg.link_buffer_depth,
                                                link_registers=cfg.link_registers)
        m.submodules.control = control = ControlFabric(sources=control_sources(cfg),
                                                       sinks=control_sinks(cfg))
        m.submodules.tokens = tokens = TokenCollector(CONTROL_SINKS)
        m.submodules.distributor = dist = ConfigDistributor(len(targets))

        wiring.connect(m, wiring.flipped(self.mem), agcu.mem)
        wiring.connect(m, wiring.flipped(self.cmd), agcu.cmd)
        wiring.connect(m, agcu.cfg_out, dist.i)
        wiring.connect(m, getattr(dist, f"o_{targets['vector_routes']}"), vmesh.cfg)
        wiring.connect(m, getattr(dist, f"o_{targets['scalar_routes']}"), smesh.cfg)
        wiring.connect(m, getattr(dist, f"o_{targets['control']}"), control.cfg)
        m.d.comb += [tokens.i.eq(control.snk[:CONTROL_SINKS]), agcu.done_in.eq(tokens.o)]

        # -- the AGCU's node ----------------------------------------------------------------
        ar, ac = cfg.AGCU_NODE
        m.submodules.agcu_split = split = FlowSplit(vec_bits)
        wiring.connect(m, getattr(dist, f"o_{targets['agcu_split']}"), split.cfg)
        wiring.connect(m, agcu.vec_out, split.i)
        _connect_flits(m, split.vec, getattr(vmesh, f"inject_{ar}_{ac}"))
        _connect_flits(m, split.sca, getattr(smesh, f"inject_{ar}_{ac}"))
        m.submodules.agcu_merge = merge = FlitMerge(flit_layout(vec_bits))
        _connect_flits(m, getattr(vmesh, f"eject_{ar}_{ac}"), merge.a)
        _connect_flits(m, getattr(smesh, f"eject_{ar}_{ac}"), merge.b)
        wiring.connect(m, merge.o, agcu.vec_in)

        # -- nodes without a unit -----------------------------------------------------------
        used = {cfg.AGCU_NODE} | {node for _, node in units}
        for r in range(mesh_rows):
            for c in range(mesh_cols):
                if (r, c) in used:
                    continue
                for mesh in (vmesh, smesh):
                    m.d.comb += getattr(mesh, f"eject_{r}_{c}").ready.eq(1)

        # -- units --------------------------------------------------------------------------
        done_tokens = Signal(len(units))
        pass_tokens = Signal(len(units))
        pcu_config_errors = []
        stage_credit_errors = []
        for i, (kind, (r, c)) in enumerate(units):
            if kind == UnitKind.PCU:
                unit = PCU(cfg.pcu_params(), shared_modules=self._shared)
                ports = (unit.vec_in, unit.vec_out, unit.scalar_in, unit.scalar_out)
                m.d.comb += [unit.done.ready.eq(1), done_tokens[i].eq(unit.done.valid),
                             pass_tokens[i].eq(unit.done.valid)]
                pcu_config_errors.append(unit.cfg_error)
            else:
                unit = PMU(cfg.pmu_params())
                ports = (unit.vec_in, unit.vec_out, unit.sca_in, unit.sca_out)
                was_busy = Signal(name=f"unit{i}_was_busy")
                m.d.sync += was_busy.eq(unit.busy)
                m.d.comb += [done_tokens[i].eq(was_busy & ~unit.busy),
                             pass_tokens[i].eq(unit.read_pass_done),
                             unit.credit_in.eq(control.snk[credit_sink(cfg, i)])]
                checker = StageCreditChecker()
                m.submodules[f"unit{i}_credit_checker"] = checker
                m.d.comb += [checker.configured.eq(unit.configured),
                             checker.enabled.eq(unit.read_credits),
                             checker.initial.eq(unit.initial_credits),
                             checker.credit.eq(unit.credit_in),
                             checker.start.eq(unit.read_pass_start)]
                stage_credit_errors.append(checker.error)
            m.submodules[f"unit{i}"] = unit
            vec_in, vec_out, sca_in, sca_out = ports
            wiring.connect(m, getattr(dist, f"o_{TARGETS_PER_UNIT * i}"), unit.cfg)

            for j, (mesh, port_in, port_out) in enumerate(((vmesh, vec_in, vec_out),
                                                          (smesh, sca_in, sca_out))):
                width = vec_bits if j == 0 else 32
                tag = OutputTag(width)
                m.submodules[f"unit{i}_{'vec' if j == 0 else 'scalar'}_tag"] = tag
                wiring.connect(m, getattr(dist, f"o_{TARGETS_PER_UNIT * i + 1 + j}"), tag.cfg)
                m.d.comb += [tag.i.payload.eq(port_out.payload), tag.i.valid.eq(port_out.valid),
                             port_out.ready.eq(tag.i.ready)]
                _connect_flits(m, tag.o, getattr(mesh, f"inject_{r}_{c}"))
                eject = getattr(mesh, f"eject_{r}_{c}")
                if kind == UnitKind.PMU and j == 0:
                    pmu_input = PMUInput(vmesh.layout, REORDER_WINDOW)
                    m.submodules[f"unit{i}_input"] = pmu_input
                    m.d.comb += [pmu_input.reorder.eq(unit.reorder_input),
                                 pmu_input.clear.eq(unit.configured)]
                    wiring.connect(m, eject, pmu_input.i)
                    wiring.connect(m, pmu_input.o, port_in)
                else:
                    m.d.comb += [port_in.payload.eq(eject.payload.data),
                                 port_in.valid.eq(eject.valid), eject.ready.eq(port_in.ready)]

            m.submodules[f"unit{i}_counters"] = counters = UnitCounters()
            m.d.comb += [
                counters.busy.eq(unit.busy),
                counters.in_valid.eq(vec_in.valid), counters.in_ready.eq(vec_in.ready),
                counters.out_valid.eq(vec_out.valid), counters.out_ready.eq(vec_out.ready),
            ]
            for k in range(COUNTERS_PER_UNIT):
                m.d.comb += [
                    self.counters[COUNTERS_PER_UNIT * i + k].eq(counters.counts[k]),
                    self.counter_events[COUNTERS_PER_UNIT * i + k].eq(counters.events[k]),
                ]
        m.d.comb += control.src.eq(Cat(done_tokens, pass_tokens))

        # -- status ---------------------------------------------------------------------
        m.d.comb += [
            self.busy.eq(agcu.busy | dist.busy),
            self.error.eq(agcu.error),
            self.config_error.eq(dist.error | _any(pcu_config_errors)),
            self.credit_error.eq(vmesh.credit_error | smesh.credit_error
                                 | _any(stage_credit_errors)),
            self.kernels_done.eq(agcu.kernels_done),
            self.commands_done.eq(agcu.commands_done),
            self.kernel_cycles.eq(agcu.kernel_cycles),
            self.program_cycles.eq(agcu.program_cycles),
        ]
        return m


def _connect_flits(m, source, sink) -> None:
    """Connect two flit streams field by field.

    The meshes carry log2(flows) flow bits, the AGCU and output tags six; data
    narrower at the sink (a scalar into a vector) is zero-extended.
    """
    m.d.comb += [sink.valid.eq(source.valid), source.ready.eq(sink.ready)]
    for name in ("data", "flow", "seq", "last"):
        m.d.comb += getattr(sink.payload, name).eq(getattr(source.payload, name))


def _any(signals):
    result = 0
    for signal in signals:
        result = result | signal
    return result
