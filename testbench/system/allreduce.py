"""Ring AllReduce across the sockets of a ring system: reduce-scatter, then all-gather.

Every socket ``k`` holds ``x_k``: ``N`` chunks (N = sockets) of ``vectors``
vectors each, in place at one address; after the AllReduce every socket holds
the elementwise binary32 sum of all ``x_k``.

Reduction order (what the golden model repeats): chunk ``c`` is summed in ring
order starting at socket ``c + 1``::

    sum_c = (...((x_{c+1} + x_{c+2}) + x_{c+3}) + ...) + x_c      (indices mod N)

one binary32 add (round to nearest even) per hop, so the full sum of chunk ``c``
ends at socket ``c``.

Reduce-scatter step ``s`` (0 .. N-2): socket ``k`` sends chunk ``(k-1-s) mod N``
to socket ``k+1``, whose link node pairs each received vector with its own
vector of that chunk; its PCU adds the pair (FACC: ``local + received``, equal
to ``received + local`` bit for bit) and its AGCU writes the sum in place. A
socket that receives and adds waits for its local vectors in its AGCU's single
outgoing stream, so a socket must not send and pair-receive in the same kernel
(every socket waiting for its predecessor would deadlock the ring once the link
buffers fill): each step runs in two phases, even sockets sending in the first,
odd in the second (hence an even number of sockets).
All-gather step ``s`` (0 .. N-2): socket ``k`` sends chunk ``(k-s) mod N``
(complete) to socket ``k+1``, which writes it in place; all sockets send and
receive at once (receiving only writes memory, so nothing waits in a cycle).

Host-orchestrated (:func:`enqueue_allreduce`, or its halves
:func:`enqueue_reduce_scatter`, :func:`enqueue_all_gather`): each phase loads the
programs (a barrier), then launches the kernels (a barrier), software barriers
between phases. :func:`allreduce_script` writes the tensors first.

Hardware-orchestrated (:func:`allreduce_entries`, :func:`enqueue_scheduled_allreduce`):
every socket runs the whole AllReduce as entries of its own AGCU schedule, with no
barrier between sockets: in each reduce-scatter step an even socket sends, then adds;
an odd socket adds, then sends; each all-gather step is one kernel. What orders the
sockets is the link port's count of flits a program takes (:class:`LinkNode
<hdl.system.link_node.LinkNode>`): a receiving kernel takes exactly its chunk and the
next chunk waits in the link (its credits hold the sender) until the kernel that
expects it is loaded. No deadlock: give the send and add of step ``s`` levels ``2s``
(even send, odd add) and ``2s + 1`` (odd send, even add), the all-gather steps the
levels after them; each socket runs its kernels in increasing level, and the two
kernels that exchange a chunk share a level, so every level completes once the one
before it has.
"""

import numpy as np

from hdl.agcu.arguments import READ, WRITE, StreamDescriptor, argument_words
from hdl.system.config import SystemParams
from testbench.compiler.execute import ORCHESTRATIONS
from testbench.golden.numerics import f32_add
from testbench.programs.vector_add import pcus
from testbench.runtime.program import AGCU, ProgramBuilder

from .kernels import pair_add_config
from .link_program import linked_image
from .script import SystemScript

__all__ = ["allreduce_script", "allreduce_golden", "enqueue_allreduce",
           "enqueue_reduce_scatter", "enqueue_all_gather", "allreduce_entries",
           "enqueue_scheduled_allreduce", "FLOW_SEND", "FLOW_RECV", "FLOW_LOCAL", "FLOW_SUM"]

FLOW_SEND, FLOW_RECV, FLOW_LOCAL, FLOW_SUM = 0, 1, 2, 3


def _check(system: SystemParams) -> None:
    n = system.sockets
    if n < 2:
        raise ValueError("an AllReduce needs at least two sockets")
    if n % 2:
        raise ValueError(f"the two-phase ring schedule needs an even number of sockets, "
                         f"not {n}")
    for k in range(n):
        system.port_to(k, (k + 1) % n)   # the ring's links exist (clear error otherwise)


def _sender(system, k):
    image = ProgramBuilder(system.socket_rdu(k)).build()
    return linked_image(system, k, image,
                        routes={FLOW_SEND: ((k + 1) % system.sockets, FLOW_RECV)})


def _adder(system, k, vectors):
    cfg = system.socket_rdu(k)
    (pcu,) = pcus(cfg, 1)
    image = (ProgramBuilder(cfg).flow(FLOW_RECV, AGCU, [pcu]).flow(FLOW_LOCAL, AGCU, [pcu])
             .flow(FLOW_SUM, pcu, [AGCU]).unit(pcu, pair_add_config(cfg, vectors))
             .done_tokens([pcu]).build())
    return linked_image(system, k, image, pair=(FLOW_LOCAL, FLOW_RECV), take=vectors)


def _gatherer(system, k, vectors):
    image = ProgramBuilder(system.socket_rdu(k)).flow(FLOW_RECV, AGCU, [AGCU]).build()
    return linked_image(system, k, image,
                        routes={FLOW_SEND: ((k + 1) % system.sockets, FLOW_RECV)}, take=vectors)


def _send_args(chunk, k, c, vectors):
    return argument_words([_stream(READ, FLOW_SEND, chunk(k, c), vectors)], 0)


def _add_args(chunk, k, c, vectors):
    return argument_words([_stream(READ, FLOW_LOCAL, chunk(k, c), vectors),
                           _stream(WRITE, FLOW_SUM, chunk(k, c), vectors)], 1)


def _gather_args(chunk, k, s, vectors):
    return argument_words([_stream(READ, FLOW_SEND, chunk(k, k - s), vectors),
                           _stream(WRITE, FLOW_RECV, chunk(k, k - 1 - s), vectors)], 0)


def _stream(direction, flow, base, vectors):
    return StreamDescriptor(direction, flow, base, (vectors, 1, 1), (1, 0, 0))


def _ring(system: SystemParams, bases, vectors: int):
    """``(N, chunk)``: ``chunk(k, c)`` is the address of chunk ``c`` (mod N) on socket
    ``k``, chunks of ``vectors`` vectors from ``bases[k]``."""
    _check(system)
    n = system.sockets
    chunk_bytes = vectors * system.socket_rdu(0).vector_bits // 8
    return n, lambda k, c: bases[k] + (c % n) * chunk_bytes


def enqueue_reduce_scatter(script: SystemScript, bases, vectors: int,
                           prefix: str = "") -> list[str]:
    """Queue the reduce-scatter on ``script`` (its current phase first): socket ``k``'s
    ``N`` chunks of ``vectors`` vectors each start at ``bases[k]``; afterwards socket ``c``
    holds the full sum of chunk ``c``. Returns the names of its phases, each ``prefix`` +
    ``rs<step>_<colour>[_load]``."""
    system = script.config
    n, chunk = _ring(system, bases, vectors)
    phases = []
    for s in range(n - 1):
        for colour in (0, 1):
            senders = [k for k in range(n) if k % 2 == colour]
            for k in senders:
                script.load(k, _sender(system, k))
                script.load((k + 1) % n, _adder(system, (k + 1) % n, vectors))
            phases.append(_phase(script, f"{prefix}rs{s}_{colour}_load"))
            for k in senders:
                r = (k + 1) % n
                script.launch(k, _send_args(chunk, k, k - 1 - s, vectors),
                              f"{prefix}rs{s}_send{k}")
                script.launch(r, _add_args(chunk, r, r - 2 - s, vectors),
                              f"{prefix}rs{s}_add{r}")
            phases.append(_phase(script, f"{prefix}rs{s}_{colour}"))
    return phases


def enqueue_all_gather(script: SystemScript, bases, vectors: int,
                       prefix: str = "") -> list[str]:
    """Queue the all-gather on ``script`` (its current phase first): socket ``k`` holds
    the final chunk ``k`` of the ``N`` chunks at ``bases[k]``; afterwards every socket
    holds every chunk. Returns its phase names, ``prefix`` + ``ag<step>[_load]``."""
    system = script.config
    n, chunk = _ring(system, bases, vectors)
    phases = []
    for s in range(n - 1):
        for k in range(n):
            script.load(k, _gatherer(system, k, vectors))
        phases.append(_phase(script, f"{prefix}ag{s}_load"))
        for k in range(n):
            script.launch(k, _gather_args(chunk, k, s, vectors), f"{prefix}ag{s}_{k}")
        phases.append(_phase(script, f"{prefix}ag{s}"))
    return phases


def enqueue_allreduce(script: SystemScript, bases, vectors: int,
                      prefix: str = "") -> list[str]:
    """Queue the whole AllReduce on ``script`` (its current phase first) over the ``N``
    chunks of ``vectors`` vectors at ``bases[k]`` on socket ``k``, in place; returns the
    names of its phases in order (each has a ``window(name)`` in the result)."""
    return (enqueue_reduce_scatter(script, bases, vectors, prefix)
            + enqueue_all_gather(script, bases, vectors, prefix))


def allreduce_entries(system: SystemParams, socket: int, bases, vectors: int) -> list:
    """Socket ``socket``'s part of the AllReduce of :func:`enqueue_allreduce` (the same
    chunks, sums and order) as ``[(image, arguments), ...]`` for its AGCU schedule, with
    no barrier between sockets (the module docstring says why the ring cannot deadlock).
    Every entry loads its program: a program's link record is what lets its chunk in."""
    n, chunk = _ring(system, bases, vectors)
    k = socket
    sender, adder = _sender(system, k), _adder(system, k, vectors)
    gatherer = _gatherer(system, k, vectors)
    entries = []
    for s in range(n - 1):
        send = (sender, _send_args(chunk, k, k - 1 - s, vectors))
        add = (adder, _add_args(chunk, k, k - 2 - s, vectors))
        entries += [send, add] if k % 2 == 0 else [add, send]
    for s in range(n - 1):
        entries.append((gatherer, _gather_args(chunk, k, s, vectors)))
    return entries


def enqueue_scheduled_allreduce(script: SystemScript, bases, vectors: int,
                                name: str = "allreduce") -> list[str]:
    """Queue the AllReduce hardware-orchestrated: on every socket one schedule
    (:func:`allreduce_entries`, its launch named ``name`` + ``_s<k>``), then one barrier
    ``name``; returns ``[name]``."""
    for k in range(script.config.sockets):
        script.schedule(k, allreduce_entries(script.config, k, bases, vectors), f"{name}_s{k}")
    return [_phase(script, name)]


def _phase(script: SystemScript, name: str) -> str:
    script.barrier(name)
    return name


def allreduce_script(system: SystemParams, tensors, orchestration: str = "software"
                     ) -> tuple[SystemScript, list[str]]:
    """A script AllReducing ``tensors`` (one uint32 array of N x vectors x lanes words per
    socket); outputs ``out<k>`` (socket k's result). Returns the script and the names
    of its phases in order (each has a ``window(name)`` in the result).
    ``orchestration``: host phases ("software") or one schedule per socket ("hardware")."""
    _check(system)
    n, cfg = system.sockets, system.socket_rdu(0)   # a ring's sockets share the lanes
    tensors = [np.asarray(t, np.uint32).reshape(n, -1, cfg.lanes) for t in tensors]
    if len(tensors) != n or len({t.shape for t in tensors}) != 1:
        raise ValueError(f"need {n} tensors of one shape (chunks x vectors x lanes)")
    script = SystemScript(system)
    bases = [script.write(k, tensors[k], f"x{k}") for k in range(n)]
    if orchestration not in ORCHESTRATIONS:
        raise ValueError(f"orchestration must be one of {ORCHESTRATIONS}, not {orchestration!r}")
    enqueue = enqueue_allreduce if orchestration == "software" else enqueue_scheduled_allreduce
    phases = enqueue(script, bases, tensors[0].shape[1])
    for k in range(n):
        script.read(k, f"out{k}", bases[k], tensors[k].size)
    return script, phases


def allreduce_golden(tensors) -> np.ndarray:
    """The AllReduce of ``tensors`` (N arrays of N chunks) in the documented order."""
    n = len(tensors)
    x = [np.asarray(t, np.uint32).reshape(n, -1) for t in tensors]
    out = np.empty_like(x[0])
    for c in range(n):
        total = x[(c + 1) % n][c]
        for j in range(2, n + 1):
            total = f32_add(total, x[(c + j) % n][c])
        out[c] = total
    return out.reshape(-1)
