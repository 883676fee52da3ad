"""Sweeps on the regression's cluster: one function over many items, results in order.

For ``rdu bench`` parts or parameter sweeps: each item is one Dask task. The
function and the items must be importable or picklable by Dask (a module-level
function, plain data), and the function runs in a worker process, possibly on
another node, with that node's checkout.

A bench calls :func:`sweep_map` for its independent points; they run here, one after
the other, unless the caller opened a cluster with :func:`sweeping_on` (``rdu bench
--scheduler ADDRESS`` or ``--cluster ...``).
"""

import contextlib
import contextvars
import functools
from collections.abc import Callable, Iterable, Iterator

from .cluster import ClusterSpec, dask_client

__all__ = ["SweepError", "map_on_cluster", "sweep_map", "sweeping_on"]

_SWEEP_CLIENT = contextvars.ContextVar("sweep_client", default=None)


class SweepError(RuntimeError):
    """One item of a sweep failed (its exception is the cause)."""


def map_on_cluster(function: Callable, items: Iterable, *, scheduler: str | None = None,
                   cluster: str = "local", workers: int = 2, retries: int = 1, client=None,
                   **cluster_options) -> list:
    """``[function(item) for item in items]``, each call a task on a Dask cluster.

    ``scheduler`` is the address of a running scheduler; otherwise ``cluster`` names
    the cluster to start (``local``, ``slurm``, ``lsf``, ``pbs``, ``sge``; see
    :class:`~testbench.farm.cluster.ClusterSpec` for ``cluster_options``), or
    ``inline`` to call the function here, one item after the other, without Dask.
    An existing ``client`` is used as it is. Raises :class:`SweepError` naming the
    first item (in order) that failed.
    """
    items = list(items)
    if client is None and scheduler is None and cluster == "inline":
        results = []
        for item in items:
            try:
                results.append(function(item))
            except Exception as error:
                raise _failed(function, item, error) from error
        return results
    if client is not None:
        return _gather(client, function, items, retries)
    spec = ClusterSpec(scheduler=scheduler, cluster=cluster, workers=workers, **cluster_options)
    with dask_client(spec) as new_client:
        return _gather(new_client, function, items, retries)


def _gather(client, function, items, retries, finished=None) -> list:
    """The results in the items' order; ``finished(index, result)`` as each task ends,
    in the order they end."""
    from distributed import as_completed

    futures = client.map(function, items, pure=False, retries=retries)
    index_of = {future.key: k for k, future in enumerate(futures)}
    results = [None] * len(items)
    for future in as_completed(futures):
        k = index_of[future.key]
        try:
            results[k] = future.result()
        except Exception as error:
            client.cancel(futures)
            raise _failed(function, items[k], error) from error
        if finished is not None:
            finished(k, results[k])
    return results


def _failed(function, item, error) -> SweepError:
    name = getattr(getattr(function, "func", function), "__name__", function)
    return SweepError(f"{name}({item!r}) failed: "
                      f"{type(error).__name__}: {error}")


@contextlib.contextmanager
def sweeping_on(spec: ClusterSpec | None) -> Iterator:
    """Inside, :func:`sweep_map` runs its items as tasks on ``spec``'s cluster (None:
    here, in order)."""
    if spec is None:
        yield None
        return
    with dask_client(spec) as client:
        token = _SWEEP_CLIENT.set(client)
        try:
            yield client
        finally:
            _SWEEP_CLIENT.reset(token)


def sweep_map(function: Callable, items: Iterable, *, log: Callable | None = None,
              retries: int = 1, describe: Callable | None = None) -> list:
    """``[function(item) for item in items]``: on the cluster of the enclosing
    :func:`sweeping_on`, else here; :class:`SweepError` names the first failed item.

    ``log`` (progress lines) reaches ``function`` as ``log=`` only when it runs here; a
    worker has no terminal, so there ``function`` keeps its own default and this
    process logs a line as each point ends: ``describe(item, result)``, or the item and
    how many points are done."""
    client = _SWEEP_CLIENT.get()
    if client is None:
        call = functools.partial(function, log=log) if log is not None else function
        return map_on_cluster(call, items, cluster="inline")
    items = list(items)
    if log is None:
        return _gather(client, function, items, retries)
    log(f"{len(items)} point(s) of {function.__name__} on the Dask cluster")
    done = 0

    def finished(index, result):
        nonlocal done
        done += 1
        log(describe(items[index], result) if describe is not None else
            f"[{done}/{len(items)}] {items[index]!r} done")

    return _gather(client, function, items, retries, finished)
