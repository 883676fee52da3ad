"""Tensor-parallel GEMM across the sockets of a ring: ``C = A @ B`` with K split, then AllReduce.

Split: with ``S`` sockets, K is cut into ``S`` contiguous ranges ``Ks`` (sizes differ
by at most one, the first ``K mod S`` ranges one longer: :func:`split_ranges`). Socket
``s`` gets ``A[:, Ks]`` (bf16 ``[m, |Ks|]``) and ``B[Ks, :]`` (bf16 ``[|Ks|, n]``) in
its own device memory and computes its partial ``P_s = A[:, Ks] @ B[Ks, :]`` (fp32
``[m, n]``) with the kernel compiler's GEMM kernels (testbench/compiler: graph
``c = gemm(a, b)`` compiled for that socket's RDU, host-launched kernel by kernel)
on its own tile. Then the ring AllReduce of testbench/system/allreduce.py sums the
partials in place, so every socket ends with ``C``.

Data layout: each partial is the GEMM's output buffer in the compiler's standard
layout (testbench/compiler/layout.py): ``rows_alloc`` rows (``m`` rounded up to whole
``lanes x lanes`` tiles) of ``cpad = ceil(n / lanes) * lanes`` binary32 words, element
``(r, j)`` at word ``r * cpad + j``; padding columns and slack rows hold what the GEMM
kernels wrote there. The AllReduce runs over that whole buffer, cut into ``S`` equal
chunks of vectors (so its vector count must be a multiple of ``S``; with ``lanes`` a
multiple of ``S`` it always is), and the result is read back from the same address.

Reduction order (what :meth:`TPGemm.golden` repeats bit for bit): ``P_s`` in the
compiler's GEMM order (per K chunk of its GemmPlan the systolic order, from +0.0,
products added for k in order; chunks added in order: :func:`testbench.compiler.golden.gemm`),
then, for an element in AllReduce chunk ``c``,
``C = (...((P_{c+1} + P_{c+2}) + P_{c+3}) + ...) + P_c`` (indices mod ``S``), one binary32
add per hop. This is not the single-socket GEMM's order, so ``C`` may differ from
``evaluate`` of the unsplit graph in the last bits.

Phases and what is measured: ``stage`` (the hosts write every socket's operands),
``gemm`` (every socket's kernels at once, then its partial read back as ``s<k>_c``),
the AllReduce's phases (``ar_`` + the names of :func:`enqueue_allreduce`, program loads
included), then each socket's ``C`` is read as ``out<k>``. :meth:`TPGemm.collect`
gives per socket the partial, ``C`` and the GEMM's host cycles (first launch to last
kernel end), and the AllReduce's cycles (first phase start to last phase end) and
kernel-phase cycles (its phases without the program loads).
"""

from dataclasses import dataclass

import numpy as np

from hdl.system.config import SystemParams
from testbench.compiler import (
    BF16,
    CompiledGraph,
    Graph,
    collect_run,
    compile_graph,
    enqueue_run,
    evaluate,
    stage_buffers,
)
from testbench.compiler.layout import padded_cols
from testbench.runtime.host_program import HostProgramResult

from .allreduce import allreduce_golden, enqueue_allreduce
from .script import SystemScript
from .socket_script import SocketScript

__all__ = ["TPGemm", "TPGemmResult", "SocketGemms", "split_ranges", "gemm_graph", "AR_PREFIX"]

AR_PREFIX = "ar_"


def split_ranges(size: int, sockets: int, what: str = "K") -> list[range]:
    """``sockets`` contiguous ranges covering ``0 .. size-1``; the first ``size % sockets``
    one longer. ``what`` names the dimension in the error."""
    if size < sockets:
        raise ValueError(f"{what} = {size} cannot be split across {sockets} sockets (at "
                         f"least one per socket)")
    base, extra = divmod(size, sockets)
    starts = [s * base + min(s, extra) for s in range(sockets + 1)]
    return [range(starts[s], starts[s + 1]) for s in range(sockets)]


def gemm_graph(m: int, k: int, n: int) -> Graph:
    """``c = gemm(a, b)``: bf16 ``a [m, k]``, bf16 weight ``b [k, n]``, fp32 output ``c``."""
    g = Graph()
    g.output(g.gemm(g.input("a", (m, k), BF16), g.input("b", (k, n), BF16, weight=True),
                    "c"))
    return g


@dataclass
class TPGemmResult:
    """What one tensor-parallel GEMM produced (uint32 binary32 bits, per socket)."""

    partials: list          # socket s's P_s, [m, n]
    outputs: list           # C as socket s holds it after the AllReduce, [m, n]
    gemm_cycles: list       # socket s's host cycles from its first launch to its last kernel end
    allreduce_cycles: int   # first AllReduce phase start to last phase end (loads included)
    allreduce_kernel_cycles: int   # the AllReduce's phases without the program loads


class SocketGemms:
    """What the split GEMMs share: ``C = A @ B`` (bf16 ``[m, k]`` x bf16 ``[k, n]`` ->
    fp32) as one GEMM per socket of ``system``, socket ``s`` over ``ranges[s]`` of the
    split dimension with ``c = gemm(a, b)`` of ``shapes[s]`` (its ``(k, n)``), compiled on
    construction. A subclass gives every socket's operands (:meth:`_inputs`)."""

    def __init__(self, system: SystemParams, m: int, k: int, n: int, ranges: list[range],
                 shapes: list[tuple[int, int]], mode: str):
        self.system, self.m, self.k, self.n = system, m, k, n
        self.ranges = ranges
        self.compiled: list[CompiledGraph] = [
            compile_graph(gemm_graph(m, *shape), system.socket_rdu(s), mode)
            for s, shape in enumerate(shapes)]

    def _inputs(self, socket: int, a, b) -> dict:
        """Socket ``socket``'s ``{"a": ..., "b": ...}`` of the checked operands."""
        raise NotImplementedError

    def _operands(self, a, b):
        a = np.asarray(a, np.uint16)
        b = np.asarray(b, np.uint16)
        if a.shape != (self.m, self.k) or b.shape != (self.k, self.n):
            raise ValueError(f"A {a.shape} and B {b.shape} are not [{self.m}, {self.k}] and "
                             f"[{self.k}, {self.n}] bf16 bit patterns")
        return a, b

    def _run_gemms(self, script: SystemScript, views: list[SocketScript], a, b) -> list[dict]:
        """Queue on ``script``: every socket's operands written through its view (phase
        ``stage``), then every socket's GEMM, outputs tagged ``s<k>_`` (phase ``gemm``).
        Returns every socket's buffer addresses."""
        addresses = [stage_buffers(c, view, self._inputs(s, a, b))
                     for s, (c, view) in enumerate(zip(self.compiled, views, strict=True))]
        script.barrier("stage")
        for s, (compiled, view) in enumerate(zip(self.compiled, views, strict=True)):
            enqueue_run(compiled, view, addresses[s], tag=f"s{s}_")
        script.barrier("gemm")
        return addresses

    def _golden_outputs(self, a, b) -> list:
        """Every socket's GEMM output ``c`` from the compiler's golden model."""
        outputs = []
        for s, compiled in enumerate(self.compiled):
            rdu = self.system.socket_rdu(s)
            outputs.append(evaluate(compiled.graph, self._inputs(s, a, b), rdu.lanes,
                                    rdu.pmu_depth)["c"])
        return outputs

    def _reports(self, result) -> list:
        """Every socket's GEMM report (:func:`~testbench.compiler.collect_run`)."""
        return [collect_run(c, result, tag=f"s{s}_") for s, c in enumerate(self.compiled)]


class TPGemm(SocketGemms):
    """``C = A @ B`` (bf16 ``[m, k]`` x bf16 ``[k, n]`` -> fp32) on the sockets of ``system``
    with K split (see the module docstring); compiled for every socket on construction."""

    def __init__(self, system: SystemParams, m: int, k: int, n: int, mode: str = "unfused"):
        ranges = split_ranges(k, system.sockets, "K")
        super().__init__(system, m, k, n, ranges, [(len(r), n) for r in ranges], mode)
        lanes = system.socket_rdu(0).lanes
        words = {c.infos["c"].words(lanes) for c in self.compiled}
        if len(words) != 1:
            raise ValueError(f"the sockets' partial buffers differ in size ({sorted(words)} "
                             f"words): the AllReduce needs one shape")
        self.region_words = words.pop()
        vectors = self.region_words // lanes
        if vectors % system.sockets:
            raise ValueError(f"the partial buffer holds {vectors} vectors, not a multiple "
                             f"of {system.sockets} sockets (AllReduce chunks must be equal)")
        self.chunk_vectors = vectors // system.sockets
        self.allreduce_phases: list[str] = []

    def _inputs(self, socket: int, a, b) -> dict:
        r = self.ranges[socket]
        return {"a": np.ascontiguousarray(a[:, r.start:r.stop]),
                "b": np.ascontiguousarray(b[r.start:r.stop, :])}

    def script(self, a, b) -> SystemScript:
        """A script running the whole tensor-parallel GEMM on ``a``, ``b`` (uint16 bf16 bits)."""
        a, b = self._operands(a, b)
        script = SystemScript(self.system)
        sockets = [SocketScript(script, s) for s in range(self.system.sockets)]
        addresses = self._run_gemms(script, sockets, a, b)
        bases = [addr["c"] for addr in addresses]
        self.allreduce_phases = enqueue_allreduce(script, bases, self.chunk_vectors,
                                                  AR_PREFIX)
        rows = self.m * padded_cols(self.n, self.system.socket_rdu(0).lanes)
        for s, base in enumerate(bases):
            script.read(s, f"out{s}", base, rows)
        return script

    def golden(self, a, b) -> tuple[list, np.ndarray]:
        """(every socket's partial, C) in the documented order (uint32 ``[m, n]``)."""
        partials = self._golden_outputs(*self._operands(a, b))
        cpad = padded_cols(self.n, self.system.socket_rdu(0).lanes)
        regions = []
        for partial in partials:
            region = np.zeros((self.region_words // cpad, cpad), np.uint32)
            region[:self.m, :self.n] = partial
            regions.append(region)
        total = allreduce_golden(regions).reshape(-1, cpad)
        return partials, total[:self.m, :self.n]

    def collect(self, result: HostProgramResult) -> TPGemmResult:
        """The :class:`TPGemmResult` of a run of :meth:`script`."""
        reports = self._reports(result)
        lanes = self.system.socket_rdu(0).lanes
        cpad = padded_cols(self.n, lanes)
        outputs = [np.asarray(result[f"out{s}"], np.uint32).reshape(self.m, cpad)[:, :self.n]
                   for s in range(self.system.sockets)]
        phases = self.allreduce_phases
        kernels = sum(result.cycles(name) for name in phases if not name.endswith("_load"))
        return TPGemmResult([r.outputs["c"] for r in reports], outputs,
                            [r.cycles for r in reports], result.cycles(phases[0], phases[-1]),
                            kernels)
