"""Column-split tensor-parallel GEMM: ``C = A @ B`` with N split across sockets, then all-gather.

Split: with ``S`` sockets, N is cut into ``S`` contiguous ranges ``Ns``
(:func:`~.tp_gemm.split_ranges`). Socket ``s`` gets all of ``A`` (bf16 ``[m, k]``) and
``B[:, Ns]`` and computes ``C[:, Ns]`` with the kernel compiler's GEMM kernels on its
own tile; the all-gather half of the ring AllReduce (testbench/system/allreduce.py,
:func:`~.allreduce.enqueue_all_gather`) then copies every socket's block to every
other socket. No sum crosses a socket, so ``C`` is bit for bit the compiler's
single-socket GEMM of the whole ``A @ B`` (its order per column depends only on K).

Data layout: every socket reserves one gather region of ``S`` equal chunks; chunk
``s`` holds ``C[:, Ns]`` as socket ``s``'s GEMM output buffer in the compiler's
standard layout (``rows_alloc`` rows of ``ceil(|Ns| / lanes) * lanes`` words; the
chunk is as large as the largest socket's buffer, a smaller buffer leaves the end of
its chunk unused). Socket ``s``'s GEMM writes its output straight into chunk ``s``
of its own region (:class:`~.socket_session.SocketScript` ``placed``), so the
all-gather needs no copy first.

Phases: ``stage`` (operands written), ``gemm`` (every socket's kernels at once),
the all-gather's (``ag_`` + ``ag<step>[_load]``), then each socket's whole region is
read back as ``out<k>``. :meth:`TPGemmColumns.collect` gives each socket's ``C``,
each socket's GEMM host cycles and the all-gather's cycles (loads included).
"""

from dataclasses import dataclass

import numpy as np

from hdl.system.config import SystemParams

from .allreduce import enqueue_all_gather
from .script import SystemScript
from .socket_script import SocketScript
from .tp_gemm import SocketGemms, split_ranges

__all__ = ["TPGemmColumns", "TPGemmColumnsResult", "AG_PREFIX"]

AG_PREFIX = "ag_"


@dataclass
class TPGemmColumnsResult:
    """What one column-split GEMM produced (uint32 binary32 bits)."""

    outputs: list           # C [m, n] as socket s holds it after the all-gather
    gemm_cycles: list       # socket s's host cycles from its first launch to its last kernel end
    gather_cycles: int      # first all-gather phase start to last phase end (loads included)


class TPGemmColumns(SocketGemms):
    """``C = A @ B`` (bf16 ``[m, k]`` x bf16 ``[k, n]`` -> fp32) on the sockets of ``system``
    with N split (see the module docstring); compiled for every socket on construction."""

    def __init__(self, system: SystemParams, m: int, k: int, n: int, mode: str = "unfused"):
        ranges = split_ranges(n, system.sockets, "N")
        super().__init__(system, m, k, n, ranges, [(k, len(r)) for r in ranges], mode)
        self.lanes = system.socket_rdu(0).lanes
        self.chunk_words = max(c.infos["c"].words(self.lanes) for c in self.compiled)
        self.gather_phases: list[str] = []

    def _inputs(self, socket: int, a, b) -> dict:
        r = self.ranges[socket]
        return {"a": a, "b": np.ascontiguousarray(b[:, r.start:r.stop])}

    def script(self, a, b) -> SystemScript:
        """A script running the column-split GEMM on ``a``, ``b`` (uint16 bf16 bits)."""
        a, b = self._operands(a, b)
        sockets = self.system.sockets
        chunk_bytes = self.chunk_words * 4
        script = SystemScript(self.system)
        regions = [script.allocate(s, sockets * chunk_bytes, "gathered")
                   for s in range(sockets)]
        views = [SocketScript(script, s, placed={"c": (regions[s] + s * chunk_bytes,
                                                         chunk_bytes)})
                 for s in range(sockets)]
        self._run_gemms(script, views, a, b)
        self.gather_phases = enqueue_all_gather(script, regions, self.chunk_words // self.lanes,
                                                AG_PREFIX)
        for s, region in enumerate(regions):
            script.read(s, f"out{s}", region, sockets * self.chunk_words)
        return script

    def golden(self, a, b) -> np.ndarray:
        """C (uint32 ``[m, n]``): every socket's block from the compiler's golden GEMM."""
        return np.concatenate(self._golden_outputs(*self._operands(a, b)), axis=1)

    def collect(self, result: dict) -> TPGemmColumnsResult:
        """The :class:`TPGemmColumnsResult` of a run of :meth:`script`."""
        reports = self._reports(result)
        outputs = []
        for s in range(self.system.sockets):
            chunks = np.asarray(result[f"out{s}"], np.uint32).reshape(self.system.sockets, -1)
            blocks = []
            for c, (compiled, r) in enumerate(zip(self.compiled, self.ranges, strict=True)):
                words = compiled.infos["c"].words(self.lanes)
                cpad = words // compiled.infos["c"].rows_alloc
                blocks.append(chunks[c, :words].reshape(-1, cpad)[:self.m, :len(r)])
            outputs.append(np.concatenate(blocks, axis=1))
        return TPGemmColumnsResult(outputs, [r.cycles for r in reports],
                                   result.cycles(self.gather_phases[0], self.gather_phases[-1]))
