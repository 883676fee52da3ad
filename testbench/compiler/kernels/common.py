"""What every kernel family shares: the :class:`KernelContext` (units, counter bounds,
flows, the transposing PMU, the ranges a group is cut into) and kernel naming.

Flows of a kernel (:meth:`KernelContext.route`): flow 0 AGCU -> first unit, flow i
unit i-1 -> unit i, the last flow back to the AGCU (scalar fabric after a
reduction). Done tokens: every unit of the kernel; a PCU (passes = 1) sends one, and
so does a PMU, whose token is its ``busy`` falling once after all of a
configuration's passes. Units: the first PCUs and PMUs (:meth:`KernelContext.units`),
or for a spatial group each next to the one before it (:meth:`KernelContext.place`).
A shortfall of any of these raises :class:`ResourceError`: spatial mode cuts a group
that would need more (:meth:`KernelContext.fits`).
"""

from dataclasses import replace

from hdl.rdu.config import RDUParams, UnitKind
from hdl.tile.targets import CONTROL_SINKS
from pcu_pmu.pcu.config import MAX_BOUND, CounterConfig, PCUConfig
from pcu_pmu.pmu.config import AddressGenConfig, PMUConfig, ReadLayout, WriteLayout
from testbench.runtime.program import AGCU, ProgramBuilder, ProgramError

from ..errors import CompileError
from ..kernel import Kernel, Stream
from ..kinds import OpKind
from ..spatial import place_chain

__all__ = ["KernelContext", "ResourceError", "op_name", "numbered", "ranges", "counters", "linear"]


class ResourceError(CompileError):
    """A group's kernels need more of the RDU than it has: units, flows, done-token
    sinks, PMU rows or PCU counter range."""


def op_name(prims) -> str:
    """A group's name: its primitives in order, ``kind(inputs) -> ...``."""
    return " -> ".join(f"{p.kind}({', '.join(p.inputs)})" for p in prims)


def numbered(kernels: list, what: str, starts) -> list:
    """Kernels of one group cut into ranges, named by the ``what`` each starts from."""
    if len(kernels) == 1:
        return kernels
    return [replace(k, name=f"{k.name} [{what} {start}..]")
            for k, start in zip(kernels, starts, strict=True)]


def ranges(total: int, per_kernel: int) -> list:
    """``(first, count)`` ranges of at most ``per_kernel`` covering ``0 .. total - 1``."""
    return [(first, min(per_kernel, total - first)) for first in range(0, total, per_kernel)]


def counters(bound: int) -> tuple:
    """A PCU's counters for one loop of ``bound`` iterations (the outer two run once)."""
    return (CounterConfig(bound=bound), CounterConfig(), CounterConfig())


def linear(direction: int, flow: int, buffer: str, offset: int, beats: int) -> Stream:
    """A stream of ``beats`` consecutive beats of ``buffer`` from beat ``offset``."""
    return Stream(direction, flow, buffer, offset, (beats, 1, 1), (1, 0, 0))


class KernelContext:
    """The RDU and the tensors' buffers a group's kernels are built for, the resource
    checks every family makes, and the dispatch of a group to its family.

    ``builders``: ``{OpKind: builder(context, prims) -> [Kernel]}``, keyed by the kind
    of a group's first primitive (see :mod:`.kernels`). ``max_streamed_beats``: the
    beats one kernel that emits while it reads may stream in (a longer group is cut
    into several kernels)."""

    def __init__(self, config: RDUParams, infos: dict, builders: dict,
                 max_streamed_beats: int):
        self.config, self.infos, self.lanes = config, infos, config.lanes
        self.builders, self.max_streamed_beats = builders, max_streamed_beats
        kinds = [kind for kind, _ in config.units()]
        self.pcus = [i for i, kind in enumerate(kinds) if kind == UnitKind.PCU]
        self.pmus = [i for i, kind in enumerate(kinds) if kind == UnitKind.PMU]

    def group(self, prims) -> list[Kernel]:
        """The kernels of one group of primitives, in launch order (the family of its
        first primitive, or the GEMM's when a chain feeds a GEMM's A operand)."""
        kinds = [prim.kind for prim in prims]
        builder = self.builders.get(OpKind.GEMM_CHUNK if OpKind.GEMM_CHUNK in kinds
                                    else kinds[0])
        if builder is None:
            raise CompileError(f"{op_name(prims)}: internal error, no kernel builder for "
                               f"{prims[0].kind!r}")
        return builder(self, prims)

    def fits(self, prims) -> bool:
        """Whether the kernels of group ``prims`` can be built on this RDU (no
        :class:`ResourceError`; other errors are raised)."""
        try:
            self.group(prims)
        except ResourceError:
            return False
        return True

    # -- resources ------------------------------------------------------------------------
    def units(self, prims, pcus: int, pmus: int):
        """The first ``pcus`` PCUs and ``pmus`` PMUs, or ResourceError if there are fewer."""
        what = op_name(prims)
        if pcus > len(self.pcus):
            raise ResourceError(f"{what}: too many units, needs {pcus} PCUs; this RDU has "
                                f"{len(self.pcus)} (compile unfused, or for a larger RDU)")
        if pmus > len(self.pmus):
            raise ResourceError(f"{what}: too many units, needs {pmus} PMUs; this RDU has "
                                f"{len(self.pmus)} (compile unfused, or for a larger RDU)")
        return self.pcus[:pcus], self.pmus[:pmus]

    def place(self, prims, kinds) -> list[int]:
        """Units for a chain of unit ``kinds``, each next to the one before it
        (:func:`~..spatial.place_chain`), or ResourceError if there are too few."""
        chain = place_chain(self.config, kinds)
        if chain is None:
            pcus = sum(kind == UnitKind.PCU for kind in kinds)
            raise ResourceError(f"{op_name(prims)}: too many units, needs {pcus} PCUs and "
                                f"{len(kinds) - pcus} PMUs; this RDU has {len(self.pcus)} and "
                                f"{len(self.pmus)}")
        return chain

    def bound(self, prims, value: int, what: str) -> int:
        """``value`` as a PCU counter bound, or ResourceError if it does not fit."""
        if not 1 <= value <= MAX_BOUND:
            raise ResourceError(f"{op_name(prims)}: PCU counter overflow, {what} = {value} "
                                f"exceeds {MAX_BOUND}")
        return value

    def pcu(self, **fields) -> PCUConfig:
        return PCUConfig(lanes=self.lanes, stages=self.config.stages, **fields)

    def program(self) -> ProgramBuilder:
        return ProgramBuilder(self.config)

    def route(self, prims, builder: ProgramBuilder, units: list,
              scalar_last: bool = False, extra_flows: int = 0,
              first_seqs: dict | None = None) -> int:
        """Route AGCU -> units[0] -> ... -> AGCU from flow 0, every unit sending a done
        token; return the write flow (on the scalar fabric if ``scalar_last``).
        ``first_seqs``: the first sequence number of a unit's output flow, by unit (for
        a PMU that reorders two sources). ResourceError if the RDU has too few flows for
        these and ``extra_flows`` more, or too few done-token sinks."""
        what = op_name(prims)
        needed = len(units) + 1 + extra_flows
        if needed > self.config.flows:
            raise ResourceError(f"{what}: too many flows, needs {needed}; this RDU has "
                                f"{self.config.flows}")
        if len(units) > CONTROL_SINKS:
            raise ResourceError(f"{what}: too many done tokens, {len(units)} units signal "
                                f"done; the control fabric has {CONTROL_SINKS} sinks")
        flow = 0
        builder.flow(flow, AGCU, [units[0]])
        for src, dst in zip(units, units[1:], strict=False):
            flow += 1
            builder.flow(flow, src, [dst], first_seq=(first_seqs or {}).get(src, 0))
        flow += 1
        builder.flow(flow, units[-1], [AGCU], fabric="scalar" if scalar_last else "vector")
        builder.done_tokens(units)
        return flow

    def kernel(self, prims, builder: ProgramBuilder, streams: tuple, done_tokens: int,
               name: str | None = None) -> Kernel:
        """The kernel of ``builder``'s program (named after ``prims`` unless ``name``)."""
        try:
            image = builder.build()
        except ProgramError as error:
            raise CompileError(f"{op_name(prims)}: {error}") from None
        return Kernel(name or op_name(prims), image, streams, done_tokens)

    def transposer(self, groups: int, columns: int) -> PMUConfig:
        """A PMU that takes ``groups`` tiles of ``lanes`` beats (diagonal write) and reads
        columns ``0..columns-1`` of each (transposed read), in one pass."""
        lanes, rows = self.lanes, groups * self.lanes
        return PMUConfig(
            write=AddressGenConfig(base=0, bounds=(rows, 1, 1), strides=(1, 0, 0), lo=0,
                                   hi=rows),
            read=AddressGenConfig(base=0, bounds=(columns, groups, 1), strides=(1, lanes, 0),
                                  lo=0, hi=rows),
            write_layout=WriteLayout.DIAGONAL, read_layout=ReadLayout.TRANSPOSED)

    # -- ranges: one kernel each ----------------------------------------------------------
    def tile_ranges(self, groups: int) -> list:
        """``(first, count)`` ranges of tiles, one per kernel (at most the PMU's rows and
        ``max_streamed_beats``)."""
        return ranges(groups, max(1, min(self.max_streamed_beats, self.config.pmu_depth)
                                  // self.lanes))

    def row_ranges(self, rows: int, beats_per_row: int) -> list:
        """``(first, count)`` ranges of whole rows of ``beats_per_row`` streamed beats."""
        return ranges(rows, max(1, self.max_streamed_beats // beats_per_row))

    def split(self, part, spans: list, what: str) -> list[Kernel]:
        """``part(first, count)`` for each span, numbered by ``what`` if more than one."""
        return numbered([part(first, count) for first, count in spans], what,
                        [first for first, _ in spans])

