"""The CoE session plan: every host step decided before the simulation starts.

:func:`plan_session` routes every request with the golden router (the simulation
later checks the RDU's logits bit-exactly against ``Plan.routes``), orders them
with the scheduler, and walks the access sequence through the DDR store and the HBM
region, emitting the steps in the order the host performs them:

* ``LoadProgram(program, slot)``: configure the tile for the router
  (``program == "router"``, ``slot`` None) or for an expert in HBM slot ``slot``.
  Emitted only when the tile holds a different program, or before every Route and
  Run with ``reload_programs`` (a graph compiled to several kernels configures the
  tile anew for each kernel, so nothing stays loaded between runs); every program
  is built for ``Plan.tokens`` rows, inputs zero-padded (see :mod:`.router`).
* ``Route(request, ...)``: run the router on the request (router program loaded).
* ``Switch(expert, slot, evicted, ...)``: copy the expert DDR -> HBM slot.
* ``Run(request, expert, slot, m)``: run the expert (its program loaded) on the request.

FCFS gives, per request, LoadProgram(router), Route, [Switch], LoadProgram, Run;
batching routes a whole window under one router load, then serves each expert's
group after one [Switch] and one LoadProgram.

Bytes per tier (``Plan.bytes``): ``host_to_ddr`` the boot preload of every expert;
``host_to_hbm`` the router weights (resident in HBM from boot); ``ddr_to_hbm`` the
switches; ``hbm_to_chip`` what Route and Run steps read (a Route the padded ``x`` and the
router weights; a Run the expert weights and its own inputs, for a decoder expert the
new token, the K/V cache and the rotary tables); ``chip_to_hbm`` what they write (fp32
logits ``[tokens, C]``; a decoder expert's fp32 output and new K/V entries).
"""

from dataclasses import asdict, dataclass, field, replace

from .ddr_store import DDRStore
from .decode_step import decode_io_bytes
from .errors import UnknownExpert
from .hbm_region import HBMRegion
from .policies import make_policy
from .scheduler import FCFS

__all__ = ["ROUTER_PROGRAM", "LoadProgram", "Route", "Switch", "Run", "Plan", "plan_session",
           "plan_routed", "step_kind"]

ROUTER_PROGRAM = "router"


@dataclass(frozen=True)
class LoadProgram:
    """Load the program of ``program`` (``"router"`` or an expert in ``slot``)."""

    program: str
    slot: int | None
    tokens: int


@dataclass(frozen=True)
class Route:
    """Run the router on ``request``; the golden decision is in ``Plan.routes``."""

    request: int
    m: int
    category: str
    confidence: float
    expert: str
    fallback: bool


@dataclass(frozen=True)
class Switch:
    """Copy ``expert`` (``nbytes``) from DDR ``ddr_address`` to HBM slot ``slot`` at
    ``hbm_address``, replacing ``evicted`` (None: the slot was free)."""

    expert: str
    slot: int
    evicted: str | None
    nbytes: int
    ddr_address: int
    hbm_address: int


@dataclass(frozen=True)
class Run:
    """Run ``expert`` (in HBM slot ``slot``) on the ``m`` tokens of ``request``: the decode
    step of its generated token ``token`` (0-based)."""

    request: int
    expert: str
    slot: int
    m: int
    token: int = 0


def step_kind(step) -> str:
    return type(step).__name__


@dataclass
class Plan:
    """Ordered steps of one session plus what they add up to."""

    steps: list
    routes: dict
    policy: str
    scheduler: str
    slots: int
    slot_bytes: int
    tokens: int
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    program_loads: int = 0
    bytes: dict = field(default_factory=dict)
    ddr_layout: list = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.routes)

    @property
    def switches(self) -> int:
        return self.misses

    @property
    def hit_rate(self) -> float:
        accesses = self.hits + self.misses
        return self.hits / accesses if accesses else 0.0

    def summary(self) -> dict:
        """Counts and bytes of the plan (no steps), JSON-ready."""
        return {"policy": self.policy, "scheduler": self.scheduler, "requests": self.requests,
                "slots": self.slots, "slot_bytes": self.slot_bytes, "tokens": self.tokens,
                "hits": self.hits, "misses": self.misses, "hit_rate": self.hit_rate,
                "switches": self.switches, "evictions": self.evictions,
                "program_loads": self.program_loads,
                "decode_steps": sum(isinstance(s, Run) for s in self.steps),
                "fallbacks": sum(
                    r.fallback for r in self.routes.values()),
                "bytes": dict(self.bytes), "steps": len(self.steps)}

    def to_json(self) -> dict:
        """The summary plus every step as ``{"kind": ..., fields...}``."""
        return {**self.summary(),
                "step_list": [{"kind": step_kind(s), **asdict(s)} for s in self.steps],
                "ddr_layout": [asdict(p) for p in self.ddr_layout]}


def plan_session(experts, router, trace, policy="lru", scheduler=None, slots: int = 4, *,
                 slot_bytes: int | None = None, ddr_bytes: int | None = None,
                 hbm_base: int = 0, ddr_base: int = 0, routes: dict | None = None,
                 reload_programs: bool = False, cache_tokens: int = 4,
                 image_bytes: int | None = None) -> Plan:
    """Plan a session of ``trace`` over ``experts`` (:class:`~.experts.Expert` list) with
    ``router`` (:class:`~.router.Router`), a policy (name or instance), a scheduler
    (default FCFS) and ``slots`` HBM slots of ``slot_bytes`` (default: the largest
    expert). ``ddr_bytes`` defaults to exactly what the experts need. ``routes``
    (``{request id: RouteDecision}``) reuses routing done before; ``cache_tokens``
    (the requests' K/V cache length) only feeds the byte counts. ``image_bytes``: the
    size of every expert as the device holds it (its weight image, see
    :func:`~.machine.expert_image_bytes`) instead of its stored checkpoint."""
    if routes is None:
        routes = router.route_trace(trace)
    sizes = {e.name: e.nbytes if image_bytes is None else image_bytes for e in experts}
    return plan_routed(sizes, routes, trace, policy, scheduler,
                       slots, slot_bytes=slot_bytes, ddr_bytes=ddr_bytes, hbm_base=hbm_base,
                       ddr_base=ddr_base, reload_programs=reload_programs,
                       router_bytes=router.checkpoint.nbytes,
                       categories=len(router.checkpoint.categories), d=router.d,
                       run_bytes=decode_io_bytes(replace(experts[0].shape,
                                                         tokens=cache_tokens)))


def plan_routed(sizes: dict, routes: dict, trace, policy="lru", scheduler=None, slots: int = 4,
                *, slot_bytes: int | None = None, ddr_bytes: int | None = None,
                hbm_base: int = 0, ddr_base: int = 0, router_bytes: int = 0,
                categories: int = 1, d: int = 0, run_bytes: tuple = (0, 0),
                reload_programs: bool = False) -> Plan:
    """:func:`plan_session` on routes already decided; ``sizes`` is ``{expert: nbytes}``
    and ``d`` (router input width), ``categories``, ``router_bytes`` and ``run_bytes``
    (bytes a Run reads besides the weights, bytes it writes) only feed the byte counts."""
    scheduler = scheduler or FCFS()
    policy = make_policy(policy)
    requests = {request.id: request for request in trace}
    for request_id, route in routes.items():
        if route.expert not in sizes:
            raise UnknownExpert(f"request {request_id} is routed to expert {route.expert!r}, "
                                f"which is not among the {len(sizes)} experts")
    missing = sorted(set(requests) - set(routes))
    if missing:
        raise ValueError(f"requests without a route: {missing[:5]}")
    tokens = max(request.m for request in requests.values())
    stale = [i for i, route in routes.items() if route.tokens != tokens]
    if stale:
        raise ValueError(f"request {stale[0]} was routed for {routes[stale[0]].tokens} rows, "
                         f"but the programs are built for {tokens} (use Router.route_trace)")
    if slot_bytes is None:
        slot_bytes = max(sizes.values())
    region = HBMRegion(slots, slot_bytes, base=hbm_base, policy=policy)
    for name, nbytes in sizes.items():
        region.check_fits(name, nbytes)
    ddr = DDRStore(sum(-(-n // 64) * 64 for n in sizes.values()) if ddr_bytes is None
                   else ddr_bytes, base=ddr_base)
    ddr.preload(sizes)

    windows = scheduler.windows(trace)
    served = [scheduler.serve_order([routes[r.id] for r in window]) for window in windows]
    accesses = [route.expert for order in served for route in order]
    plan = Plan([], dict(routes), policy.name, scheduler.describe(), slots, slot_bytes, tokens,
                bytes={"host_to_ddr": sum(sizes.values()), "host_to_hbm": router_bytes,
                       "ddr_to_hbm": 0, "hbm_to_chip": 0, "chip_to_hbm": 0},
                ddr_layout=ddr.layout)
    loaded = None
    x_bytes = tokens * d * 2

    def load(program, slot):
        nonlocal loaded
        if reload_programs or loaded != (program, slot):
            plan.steps.append(LoadProgram(program, slot, tokens))
            plan.program_loads += 1
            loaded = (program, slot)

    position = 0
    for window, order in zip(windows, served, strict=True):
        for request in window:
            route = routes[request.id]
            load(ROUTER_PROGRAM, None)
            plan.steps.append(Route(request.id, request.m, route.category, route.confidence,
                                    route.expert, route.fallback))
            plan.bytes["hbm_to_chip"] += x_bytes + router_bytes
            plan.bytes["chip_to_hbm"] += tokens * categories * 4
        for route in order:
            position += 1
            admission = region.access(route.expert, sizes[route.expert], accesses[position:])
            if admission.hit:
                plan.hits += 1
            else:
                plan.misses += 1
                plan.evictions += admission.evicted is not None
                plan.bytes["ddr_to_hbm"] += sizes[route.expert]
                plan.steps.append(Switch(route.expert, admission.slot, admission.evicted,
                                         sizes[route.expert], ddr.address(route.expert),
                                         region.slot_address(admission.slot)))
            region.pin(route.expert)
            request = requests[route.request]
            for token in range(request.new_tokens):  # the expert stays in its slot
                load(route.expert, admission.slot)
                plan.steps.append(Run(route.request, route.expert, admission.slot,
                                      request.m, token))
                plan.bytes["hbm_to_chip"] += run_bytes[0] + sizes[route.expert]
                plan.bytes["chip_to_hbm"] += run_bytes[1]
            region.unpin(route.expert)
    return plan
