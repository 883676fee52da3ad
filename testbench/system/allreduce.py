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

Each phase loads the programs (a barrier), then launches the kernels (a barrier):
host-orchestrated, software barriers between phases. :func:`enqueue_allreduce` (or
its halves :func:`enqueue_reduce_scatter`, :func:`enqueue_all_gather`) queues the
schedule on any :class:`SystemScript` over tensors already in device memory;
:func:`allreduce_script` writes the tensors first.
"""

import numpy as np

from hdl.agcu.arguments import READ, WRITE, StreamDescriptor, argument_words
from hdl.system.config import SystemParams
from testbench.golden.numerics import f32_add
from testbench.programs.vector_add import pcus
from testbench.runtime.program import AGCU, ProgramBuilder

from .kernels import pair_add_config
from .link_program import linked_image
from .script import SystemScript

__all__ = ["allreduce_script", "allreduce_golden", "enqueue_allreduce",
           "enqueue_reduce_scatter", "enqueue_all_gather", "FLOW_SEND", "FLOW_RECV",
           "FLOW_LOCAL", "FLOW_SUM"]

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
    return linked_image(system, k, image, pair=(FLOW_LOCAL, FLOW_RECV))


def _gatherer(system, k):
    image = ProgramBuilder(system.socket_rdu(k)).flow(FLOW_RECV, AGCU, [AGCU]).build()
    return linked_image(system, k, image,
                        routes={FLOW_SEND: ((k + 1) % system.sockets, FLOW_RECV)})


def _stream(direction, flow, base, vectors):
    return StreamDescriptor(direction, flow, base, (vectors, 1, 1), (1, 0, 0))


def _ring(script: SystemScript, bases, vectors: int):
    """``(system, N, chunk)``: ``chunk(k, c)`` is the address of chunk ``c`` (mod N) on
    socket ``k``, chunks of ``vectors`` vectors from ``bases[k]``."""
    system = script.config
    _check(system)
    n = system.sockets
    chunk_bytes = vectors * system.socket_rdu(0).vector_bits // 8
    return system, n, lambda k, c: bases[k] + (c % n) * chunk_bytes


def enqueue_reduce_scatter(script: SystemScript, bases, vectors: int,
                           prefix: str = "") -> list[str]:
    """Queue the reduce-scatter on ``script`` (its current phase first): socket ``k``'s
    ``N`` chunks of ``vectors`` vectors each start at ``bases[k]``; afterwards socket ``c``
    holds the full sum of chunk ``c``. Returns the names of its phases, each ``prefix`` +
    ``rs<step>_<colour>[_load]``."""
    system, n, chunk = _ring(script, bases, vectors)
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
                script.launch(k, argument_words(
                    [_stream(READ, FLOW_SEND, chunk(k, k - 1 - s), vectors)], 0),
                    f"{prefix}rs{s}_send{k}")
                script.launch(r, argument_words(
                    [_stream(READ, FLOW_LOCAL, chunk(r, r - 2 - s), vectors),
                     _stream(WRITE, FLOW_SUM, chunk(r, r - 2 - s), vectors)], 1),
                    f"{prefix}rs{s}_add{r}")
            phases.append(_phase(script, f"{prefix}rs{s}_{colour}"))
    return phases


def enqueue_all_gather(script: SystemScript, bases, vectors: int,
                       prefix: str = "") -> list[str]:
    """Queue the all-gather on ``script`` (its current phase first): socket ``k`` holds
    the final chunk ``k`` of the ``N`` chunks at ``bases[k]``; afterwards every socket
    holds every chunk. Returns its phase names, ``prefix`` + ``ag<step>[_load]``."""
    system, n, chunk = _ring(script, bases, vectors)
    phases = []
    for s in range(n - 1):
        for k in range(n):
            script.load(k, _gatherer(system, k))
        phases.append(_phase(script, f"{prefix}ag{s}_load"))
        for k in range(n):
            script.launch(k, argument_words(
                [_stream(READ, FLOW_SEND, chunk(k, k - s), vectors),
                 _stream(WRITE, FLOW_RECV, chunk(k, k - 1 - s), vectors)], 0),
                f"{prefix}ag{s}_{k}")
        phases.append(_phase(script, f"{prefix}ag{s}"))
    return phases


def enqueue_allreduce(script: SystemScript, bases, vectors: int,
                      prefix: str = "") -> list[str]:
    """Queue the whole AllReduce on ``script`` (its current phase first) over the ``N``
    chunks of ``vectors`` vectors at ``bases[k]`` on socket ``k``, in place; returns the
    names of its phases in order (each has a ``window(name)`` in the result)."""
    return (enqueue_reduce_scatter(script, bases, vectors, prefix)
            + enqueue_all_gather(script, bases, vectors, prefix))


def _phase(script: SystemScript, name: str) -> str:
    script.barrier(name)
    return name


def allreduce_script(system: SystemParams, tensors) -> tuple[SystemScript, list[str]]:
    """A script AllReducing ``tensors`` (one uint32 array of N x vectors x lanes words per
    socket); outputs ``out<k>`` (socket k's result). Returns the script and the names
    of its phases in order (each has a ``window(name)`` in the result)."""
    _check(system)
    n, cfg = system.sockets, system.socket_rdu(0)   # a ring's sockets share the lanes
    tensors = [np.asarray(t, np.uint32).reshape(n, -1, cfg.lanes) for t in tensors]
    if len(tensors) != n or len({t.shape for t in tensors}) != 1:
        raise ValueError(f"need {n} tensors of one shape (chunks x vectors x lanes)")
    script = SystemScript(system)
    bases = [script.write(k, tensors[k], f"x{k}") for k in range(n)]
    phases = enqueue_allreduce(script, bases, tensors[0].shape[1])
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
