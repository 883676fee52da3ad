"""The Dask cluster a regression or sweep runs on: local, a running scheduler, or a batch queue.

``local`` (the default) starts a ``distributed.LocalCluster`` of worker processes on
this machine, bound to 127.0.0.1. A scheduler address connects to a cluster someone
started (``dask scheduler`` + ``dask worker``). ``slurm``, ``lsf``, ``pbs`` and ``sge``
start a scheduler here and submit workers as batch jobs through dask-jobqueue.
"""

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["CLUSTERS", "JOBQUEUE_CLASSES", "ClusterError", "ClusterSpec", "check_spec",
           "dask_client"]

JOBQUEUE_CLASSES = {"slurm": "SLURMCluster", "lsf": "LSFCluster", "pbs": "PBSCluster",
                    "sge": "SGECluster"}
CLUSTERS = ("local", *JOBQUEUE_CLASSES)
CONNECT_TIMEOUT = "20s"


class ClusterError(RuntimeError):
    """The cluster could not be started or reached; the message says why."""


@dataclass(frozen=True)
class ClusterSpec:
    """Where to run: a scheduler address, or a cluster kind with its options.

    ``workers`` sizes a local cluster; ``queue``, ``cores`` (per job, one worker per
    core), ``memory``, ``walltime`` and ``jobs`` describe a batch-queue cluster; options
    left None come from dask-jobqueue's configuration (``~/.config/dask/jobqueue.yaml``).
    ``allowed_failures`` is how many worker deaths a task survives (rescheduled) before
    Dask gives up on it with ``KilledWorker``; a running scheduler keeps its own setting.
    """

    scheduler: str | None = None
    cluster: str = "local"
    workers: int = 2
    queue: str | None = None
    cores: int = 1
    memory: str | None = None
    walltime: str | None = None
    jobs: int = 1
    allowed_failures: int = 1


def check_spec(spec: ClusterSpec) -> None:
    """Raise ClusterError now for a cluster that cannot start here (before a long collection)."""
    if spec.scheduler:
        return
    if spec.cluster not in CLUSTERS:
        raise ClusterError(f"unknown cluster {spec.cluster!r} (one of {', '.join(CLUSTERS)})")
    if spec.cluster == "local":
        return
    try:
        import dask_jobqueue
    except ImportError as error:
        raise ClusterError(f"--cluster {spec.cluster} needs dask-jobqueue: {error}") from None
    submit = getattr(dask_jobqueue, JOBQUEUE_CLASSES[spec.cluster]).job_cls.submit_command
    # Without the submit command the cluster constructs fine and then waits forever for
    # workers whose jobs were never submitted (the failure is only logged).
    if not shutil.which(submit):
        raise ClusterError(f"--cluster {spec.cluster}: {submit!r} is not on PATH; run on a "
                           f"node of the batch system (a login node) or use --scheduler")


@contextlib.contextmanager
def dask_client(spec: ClusterSpec) -> Iterator:
    """A ``distributed.Client`` on the cluster of ``spec``; cluster and client closed after."""
    import dask
    from distributed import Client

    if spec.scheduler:
        try:
            client = Client(spec.scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as error:
            raise ClusterError(f"cannot reach the Dask scheduler at {spec.scheduler}: "
                               f"{error}") from None
        with client:
            yield client
        return
    check_spec(spec)
    with dask.config.set({"distributed.scheduler.allowed-failures": spec.allowed_failures}):
        cluster = _local_cluster(spec) if spec.cluster == "local" else _jobqueue_cluster(spec)
    with cluster, Client(cluster) as client:
        yield client


def _local_cluster(spec: ClusterSpec):
    from distributed import LocalCluster

    try:
        return LocalCluster(n_workers=spec.workers, threads_per_worker=1, processes=True,
                            # The HTTP server runs even without a dashboard: keep it local.
                            host="127.0.0.1", dashboard_address="127.0.0.1:0")
    except (OSError, RuntimeError, TimeoutError) as error:
        raise ClusterError(f"cannot start a local Dask cluster: {error}") from None


def _jobqueue_cluster(spec: ClusterSpec):
    """Construct the dask-jobqueue cluster (only now: it needs the batch system's tools)."""
    import dask_jobqueue

    cls = getattr(dask_jobqueue, JOBQUEUE_CLASSES[spec.cluster])
    # One single-threaded worker process per core: one pytest file at a time each.
    options = {"cores": spec.cores, "processes": spec.cores, "memory": spec.memory,
               "queue": spec.queue, "walltime": spec.walltime}
    options = {key: value for key, value in options.items() if value is not None}
    cluster = None
    try:
        cluster = cls(**options)
        cluster.scale(jobs=spec.jobs)
    except Exception as error:  # dask-jobqueue raises ValueError, KeyError, OSError ...
        if cluster is not None:
            cluster.close()
        raise ClusterError(f"cannot make the {cls.__name__}: "
                           f"{type(error).__name__}: {error}") from None
    return cluster
