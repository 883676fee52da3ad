"""The command-line options that say where work runs (a Dask cluster), for ``rdu regress``
and ``rdu bench``: ``--scheduler`` or ``--cluster`` with its sizes, checked into a
:class:`~testbench.farm.cluster.ClusterSpec` before anything starts."""

from ..farm.cluster import CLUSTERS, ClusterError, ClusterSpec, check_spec
from .output import CommandError

__all__ = ["BATCH_OPTIONS", "add_cluster_options", "cluster_spec"]

BATCH_OPTIONS = ("queue", "cores", "memory", "walltime", "jobs")


def add_cluster_options(parser, what: str) -> None:
    """``--scheduler``, ``--cluster``, ``--workers`` and the batch-queue options; ``what``
    names the work in the group title (e.g. "the tests")."""
    where = parser.add_argument_group(f"where {what} run")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="a running Dask scheduler, e.g. tcp://host:8786")
    where.add_argument("--cluster", choices=CLUSTERS,
                       help="start a cluster: local (worker processes here) or workers as "
                            "batch jobs")
    where.add_argument("--workers", type=int, default=2,
                       help="worker processes of the local cluster (default 2)")
    batch = parser.add_argument_group("batch-queue clusters (--cluster slurm|lsf|pbs|sge)")
    batch.add_argument("--queue", help="queue or partition of the jobs")
    batch.add_argument("--cores", type=int, help="cores per job, one worker each (default 1)")
    batch.add_argument("--memory", help="memory per job, e.g. 16GB")
    batch.add_argument("--walltime", help="time limit per job, e.g. 02:00:00")
    batch.add_argument("--jobs", type=int, help="jobs to submit (default 1)")


def cluster_spec(args, default_cluster: str | None = "local") -> ClusterSpec | None:
    """The cluster the options name, checked (CommandError otherwise); with neither
    ``--scheduler`` nor ``--cluster``, ``default_cluster`` (None: no cluster at all)."""
    if args.workers < 1:
        raise CommandError(f"--workers must be at least 1, not {args.workers}")
    for name in ("cores", "jobs"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise CommandError(f"--{name} must be at least 1, not {value}")
    if args.scheduler and args.cluster:
        raise CommandError("--scheduler and --cluster exclude each other")
    cluster = args.cluster or default_cluster
    if cluster in (None, "local"):
        given = [f"--{name}" for name in BATCH_OPTIONS if getattr(args, name) is not None]
        if given:
            raise CommandError(f"{', '.join(given)}: only with --cluster slurm, lsf, pbs or sge")
    if not args.scheduler and cluster is None:
        return None
    spec = ClusterSpec(scheduler=args.scheduler, cluster=cluster or "local",
                       workers=args.workers, queue=args.queue, cores=args.cores or 1,
                       memory=args.memory, walltime=args.walltime, jobs=args.jobs or 1)
    try:
        check_spec(spec)
    except ClusterError as error:
        raise CommandError(str(error)) from None
    return spec
