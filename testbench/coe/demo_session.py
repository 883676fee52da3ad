"""One CoE session end to end: checkpoints -> trace -> routes -> plan -> RTL simulation -> report.

What ``rdu coe run`` and ``make demo`` do. Every expert is a decoder layer of
``shape`` and every request one decode step of its own sequence (``shape.tokens``
cached tokens, :mod:`.decode_step`). The simulation is one Verilator run of the RDU
with its memory tiers; every Route's logits and every Run's outputs (``out`` and the
new K/V entries) are compared with the golden model, and the summary carries the
cycles the RTL took per phase.
"""

import os
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from hdl.rdu.config import RDUParams
from testbench.compiler.transformer import DecoderShape
from testbench.sim.toolchain import SIM_BUILD

from .machine import CoEMachine, Mismatch
from .plan import Plan
from .progress import ProgressFollower
from .report import summarize
from .router import DEFAULT_THRESHOLD, load_experts_and_router
from .scheduler import make_scheduler
from .trace import Trace, make_trace

__all__ = ["CoERun", "run_session"]


@dataclass
class CoERun:
    """A simulated session: its plan, per-step cycles, summary and golden-model mismatches."""

    plan: Plan
    cycles: dict
    summary: dict
    mismatches: list[Mismatch]


def run_session(config: RDUParams, experts_dir: Path, *, shape: DecoderShape,
                requests: int | None = None, trace_seed: int = 1, zipf: float = 1.2,
                max_tokens: int = 4, new_tokens: int = 1, slots: int = 3,
                policy: str = "lru", scheduler: str = "fcfs", window: int = 8,
                threshold: float = DEFAULT_THRESHOLD, clock_mhz: float = 1000.0,
                run_name: str = "coe_session", seed: int = 1, waves: bool = False,
                host_stall: float = 0.0, timeout_cycles: int = 200_000,
                switch_from: str = "ddr", host_bytes_per_cycle: float | None = None,
                progress=None, while_simulating=None, trace: Trace | None = None,
                routes: dict | None = None, orchestration: str = "hardware",
                sockets: int = 1) -> CoERun:
    """Plan and simulate a session of ``requests`` requests over the experts in
    ``experts_dir``; nothing is loaded on the device before every file checked out.

    ``switch_from="host"`` is the host-link baseline (see :meth:`CoEMachine.build`):
    switches are host writes at ``host_bytes_per_cycle``. ``orchestration``: a Route's or
    Run's kernels as one AGCU schedule ("hardware") or host launches ("software", see
    :meth:`~.machine.CoEMachine.build`). ``progress(line)`` is called
    from a thread while the simulator runs, once per finished request
    (``[k/N] request i: expert e ...``). ``while_simulating()`` is called as the
    simulator starts (work for this process while it waits, e.g. imports).

    ``trace``: a trace made before (it stands for ``requests``, ``trace_seed``, ``zipf``,
    ``max_tokens`` and ``new_tokens``: each request generates 1..``new_tokens`` tokens),
    with its ``routes`` (:meth:`~.router.Router.route_trace` with a router of ``config``'s
    lanes and ``threshold``; routed here when None), so that
    several sessions share one routed trace.

    ``sockets`` > 1: a system of that many sockets of ``config`` in a ring, every expert
    split tensor-parallel across them (:class:`~.sharded.ShardedCoE`; the router split by
    columns); the byte counts of the summary are then per socket (socket 0's)."""
    if trace is None and requests is None:
        raise ValueError("run_session needs a request count or a trace")
    clock = _Stopwatch()
    experts, router = load_experts_and_router(experts_dir, shape, threshold=threshold,
                                              lanes=config.lanes, pmu_depth=config.pmu_depth)
    if trace is None:
        trace = make_trace(router.checkpoint, requests, trace_seed, zipf=zipf,
                           tokens=(1, max_tokens), new_tokens=(1, new_tokens))
    clock.lap("load")
    by_name = {e.name: e for e in experts}
    if sockets > 1:
        from hdl.system.config import SystemParams

        from .sharded import ShardedCoE
        machine = ShardedCoE(SystemParams(sockets=sockets, rdu=config), router, by_name,
                             trace, slots=slots, shape=shape)
    else:
        machine = CoEMachine(config, router, by_name, trace, slots=slots, shape=shape)
    clock.lap("compile")
    if routes is None:
        routes = router.route_trace(trace)
    plan = machine.plan(routes, policy, make_scheduler(scheduler, window))
    clock.lap("plan")
    progress_file = None
    if progress:
        # unique, so two runs under one name do not share a progress file
        Path(SIM_BUILD).mkdir(parents=True, exist_ok=True)   # a fresh clone has none yet
        handle, progress_file = tempfile.mkstemp(prefix=f"{run_name}.", suffix=".progress",
                                                 dir=SIM_BUILD)
        os.close(handle)
    session = machine.build(plan, switch_from=switch_from,
                            host_bytes_per_cycle=host_bytes_per_cycle,
                            progress_file=progress_file, orchestration=orchestration)
    clock.lap("host_program")
    if while_simulating is not None:
        while_simulating()
    try:
        with ProgressFollower(progress_file, progress) if progress else nullcontext():
            result = session.run(run_name=run_name, seed=seed, waves=waves,
                                 host_stall=host_stall, timeout_cycles=timeout_cycles)
    finally:
        if progress_file:
            os.unlink(progress_file)
    clock.lap("simulation")
    cycles = machine.cycles(plan, result)
    mismatches = machine.check(plan, result)
    clock.lap("golden_check")
    summary = summarize(plan, cycles, clock_mhz)
    summary["wall_seconds"] = clock.breakdown(session.last_timing)
    summary["switch_from"] = switch_from
    summary["orchestration"] = orchestration
    summary["sockets"] = sockets
    if sockets > 1:
        summary["link_bytes"] = machine.link_bytes(plan, result)
    if switch_from == "host":
        moved = summary["bytes"]
        moved["host_link_to_hbm"] = moved.pop("ddr_to_hbm")
        moved["host_to_ddr"] = 0
        summary["host_bytes_per_cycle"] = host_bytes_per_cycle
    return CoERun(plan, cycles, summary, mismatches)


class _Stopwatch:
    """Wall seconds per phase of a session, in order."""

    def __init__(self):
        self.laps, self._last = {}, time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name], self._last = now - self._last, now

    def breakdown(self, simulated: dict) -> dict:
        """The laps, the simulation split into the build check, the simulator process
        outside the host program (start, reset, exit), the backdoor preload and the host
        program's window, and the window's simulated cycles per second."""
        laps = dict(self.laps)
        if simulated:
            laps["simulation"] = {
                "build_check": simulated["build_check"],
                "simulator_outside_window": (simulated["simulator"] - simulated["window"]
                                             - simulated["preload"]),
                "preload": simulated["preload"],
                "window": simulated["window"],
                "window_cycles_per_second": simulated["cycles"] / max(simulated["window"], 1e-9),
                "other": laps["simulation"] - simulated["build_check"] - simulated["simulator"]}
        laps["total"] = sum(v if isinstance(v, float) else 0.0 for v in self.laps.values())
        return laps
