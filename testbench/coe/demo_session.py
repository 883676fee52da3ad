"""One CoE session end to end: checkpoints -> trace -> routes -> plan -> RTL simulation -> report.

What ``rdu coe run`` and ``make demo`` do. The simulation is one Verilator run of
the RDU with its memory tiers; every Route's logits and every Run's output are
compared with the golden model, and the summary carries the cycles the RTL took
per phase.
"""

from dataclasses import dataclass
from pathlib import Path

from hdl.rdu.config import RDUConfig

from .experts import ROUTER_FILE, load_experts, load_router
from .machine import CoEMachine, Mismatch
from .plan import Plan
from .report import summarize
from .router import DEFAULT_THRESHOLD, Router
from .scheduler import make_scheduler
from .trace import make_trace

__all__ = ["CoERun", "run_session"]


@dataclass
class CoERun:
    """A simulated session: its plan, per-step cycles, summary and golden-model mismatches."""

    plan: Plan
    cycles: dict
    summary: dict
    mismatches: list[Mismatch]


def run_session(config: RDUConfig, experts_dir: Path, *, d: int, f: int, requests: int,
                trace_seed: int = 1, zipf: float = 1.2, max_tokens: int = 4, slots: int = 3,
                policy: str = "lru", scheduler: str = "fcfs", window: int = 8,
                threshold: float = DEFAULT_THRESHOLD, clock_mhz: float = 1000.0,
                run_name: str = "coe_session", seed: int = 1, waves: bool = False,
                host_stall: float = 0.0, timeout_cycles: int = 200_000) -> CoERun:
    """Plan and simulate a session of ``requests`` requests over the experts in
    ``experts_dir``; nothing is loaded on the device before every file checked out."""
    experts = load_experts(experts_dir, d, f)
    router = Router(load_router(Path(experts_dir) / ROUTER_FILE, d), experts,
                    threshold=threshold, lanes=config.lanes, pmu_depth=config.pmu_depth)
    trace = make_trace(router.checkpoint, requests, trace_seed, zipf=zipf,
                       tokens=(1, max_tokens))
    machine = CoEMachine(config, router, {e.name: e for e in experts}, trace, slots=slots)
    plan = machine.plan(router.route_trace(trace), policy, make_scheduler(scheduler, window))
    session = machine.build(plan)
    result = session.run(run_name=run_name, seed=seed, waves=waves, host_stall=host_stall,
                         timeout_cycles=timeout_cycles)
    cycles = machine.cycles(plan, result)
    return CoERun(plan, cycles, summarize(plan, cycles, clock_mhz), machine.check(plan, result))
