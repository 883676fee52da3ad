"""Benchmark of the ring AllReduce across sockets: cycles for 2 and 4 sockets, several sizes.

One simulation per socket count (the system top of ``SystemParams(sockets=N)``,
default link settings, clean channels, hosts' AXI channels never pausing): every
size's tensors are written first (phase ``stage``), then the AllReduces run one
after the other (testbench/system/allreduce.py: reduce-scatter in two colour
phases per step, then all-gather; every phase loads its programs, then
launches), and each result is checked bit for bit against the golden in the
documented order.

Measured per size (``words`` binary32 words per socket, cut into N chunks):

* ``cycles``: first AllReduce phase start to last phase end (host cycles, program
  loads and launches included); ``kernel_cycles``: its launch phases only;
  ``load_cycles``: its program-load phases.
* ``link_bytes_per_socket``: bytes each socket sends on its ring link,
  ``2 (N-1) / N x tensor bytes`` (N-1 chunks in each half);
  ``memory_bytes_per_socket``: bytes its AGCU moves to and from device memory,
  ``5 (N-1) / N x tensor bytes`` (a reduce-scatter step reads the chunk it sends,
  reads the local chunk it adds and writes the sum; an all-gather step reads one
  chunk and writes one).
* ``cycles_per_link_byte`` = cycles / link bytes per socket, and
  ``kernel_cycles_per_link_byte`` likewise.

* ``scheduled_cycles``: the same AllReduce (same tensors, other buffers) with every
  socket running its part as one AGCU schedule, no host barrier between the steps
  (:func:`~testbench.system.allreduce.enqueue_scheduled_allreduce`), its phase's
  cycles; ``host_over_scheduled`` = cycles / scheduled_cycles; ``scheduled_bit_exact``.

``scaling``: per size, cycles(4) / cycles(2) next to two reference ratios of the
schedule: ``transfer_ratio`` (chunk transfers in series, ``3 (N-1) / N`` tensor
sizes: 1.5) and ``phase_ratio`` (phases, ``6 (N-1)``: 3), the limits when link
transfer time or per-phase overhead (program loads, launches, barriers) dominates.
"""

import numpy as np

from hdl.system.config import SystemParams
from testbench.system.allreduce import (
    allreduce_golden,
    enqueue_allreduce,
    enqueue_scheduled_allreduce,
)
from testbench.system.script import SystemScript

SOCKETS = (2, 4)
WORDS = (256, 1024, 4096)   # binary32 words per socket


def _tensors(rng, sockets: int, words: int, lanes: int) -> list:
    return [rng.standard_normal((sockets, words // (sockets * lanes), lanes))
            .astype(np.float32).view(np.uint32) for _ in range(sockets)]


def _measure(sockets: int, log) -> list[dict]:
    system = SystemParams(sockets=sockets)
    lanes = system.socket_rdu(0).lanes
    rng = np.random.default_rng(sockets)
    script = SystemScript(system)
    tensors = {w: _tensors(rng, sockets, w, lanes) for w in WORDS}
    bases = {w: [script.write(k, tensors[w][k], f"x{w}") for k in range(sockets)]
             for w in WORDS}
    copies = {w: [script.write(k, tensors[w][k], f"y{w}") for k in range(sockets)]
              for w in WORDS}
    script.barrier("stage")
    phases = {w: enqueue_allreduce(script, bases[w], w // (sockets * lanes), f"w{w}_")
              for w in WORDS}
    scheduled = {w: enqueue_scheduled_allreduce(script, copies[w], w // (sockets * lanes),
                                                f"w{w}_scheduled")[0] for w in WORDS}
    for w in WORDS:
        for k in range(sockets):
            script.read(k, f"w{w}_out{k}", bases[w][k], w)
            script.read(k, f"w{w}_scheduled_out{k}", copies[w][k], w)
    log(f"system: AllReduce on {sockets} sockets, {', '.join(map(str, WORDS))} words")
    result = script.run(run_name=f"bench_system_s{sockets}", seed=1, host_stall=0.0,
                         timeout_cycles=1_000_000, log=log)
    rows = []
    for w in WORDS:
        want = allreduce_golden(tensors[w])
        exact = all(np.array_equal(result[f"w{w}_out{k}"], want) for k in range(sockets))
        scheduled_exact = all(np.array_equal(result[f"w{w}_scheduled_out{k}"], want)
                              for k in range(sockets))
        scheduled_cycles = result.cycles(scheduled[w])
        spans = {name: result.cycles(name) for name in phases[w]}
        cycles = result.cycles(phases[w][0], phases[w][-1])
        kernel = sum(v for name, v in spans.items() if not name.endswith("_load"))
        tensor_bytes = 4 * w
        link_bytes = 2 * (sockets - 1) * tensor_bytes // sockets
        rows.append({"sockets": sockets, "words": w, "tensor_bytes": tensor_bytes,
                     "phases": len(phases[w]), "cycles": cycles, "kernel_cycles": kernel,
                     "load_cycles": cycles - kernel,
                     "link_bytes_per_socket": link_bytes,
                     "memory_bytes_per_socket": 5 * (sockets - 1) * tensor_bytes // sockets,
                     "cycles_per_link_byte": cycles / link_bytes,
                     "kernel_cycles_per_link_byte": kernel / link_bytes,
                     "bit_exact": exact, "scheduled_cycles": scheduled_cycles,
                     "host_over_scheduled": cycles / scheduled_cycles,
                     "scheduled_bit_exact": scheduled_exact})
    return rows


def run_bench(log):
    rows = [row for sockets in SOCKETS for row in _measure(sockets, log)]
    by = {(r["sockets"], r["words"]): r for r in rows}

    def schedule(n, transfers):
        return 3 * (n - 1) / n if transfers else 6 * (n - 1)

    scaling = [{"words": w, "cycles_ratio": by[(4, w)]["cycles"] / by[(2, w)]["cycles"],
                "kernel_cycles_ratio": by[(4, w)]["kernel_cycles"] / by[(2, w)]["kernel_cycles"],
                "transfer_ratio": schedule(4, True) / schedule(2, True),
                "phase_ratio": schedule(4, False) / schedule(2, False)} for w in WORDS]
    lines = ["system: ring AllReduce (reduce-scatter + all-gather), host-orchestrated phases",
             "  (scheduled: one AGCU schedule per socket, no host barrier between steps)",
             "  words/socket  sockets  cycles  kernel  loads  link B/socket  mem B/socket  "
             "cyc/link B  exact  scheduled  host/sched  exact"]
    for w in WORDS:
        for n in SOCKETS:
            r = by[(n, w)]
            lines.append(f"  {w:12} {n:8} {r['cycles']:7} {r['kernel_cycles']:7} "
                         f"{r['load_cycles']:6} {r['link_bytes_per_socket']:14} "
                         f"{r['memory_bytes_per_socket']:13} {r['cycles_per_link_byte']:11.3f}"
                         f"  {'ok' if r['bit_exact'] else 'FAIL':5} {r['scheduled_cycles']:10} "
                         f"{r['host_over_scheduled']:11.2f}  "
                         f"{'ok' if r['scheduled_bit_exact'] else 'FAIL'}")
    lines.append("  4 vs 2 sockets (cycles, kernel cycles; transfer-bound "
                 f"{scaling[0]['transfer_ratio']:.2f}, overhead-bound "
                 f"{scaling[0]['phase_ratio']:.2f}): " + ", ".join(
                     f"{s['words']} words {s['cycles_ratio']:.2f} / "
                     f"{s['kernel_cycles_ratio']:.2f}" for s in scaling))
    return {"allreduce": rows, "scaling": scaling}, "\n".join(lines)
