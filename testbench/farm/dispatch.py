"""Tasks onto a Dask client, heaviest first; a task that cannot finish becomes a ``lost`` result.

The scheduler reschedules a task whose worker died; once it has died with
``allowed_failures + 1`` workers, its future raises ``distributed.KilledWorker``.
A task that raised is resubmitted ``retries`` times by Dask. Whatever the error
(a killed worker, a cancelled future, a lost scheduler), the task's result says
so and keeps its test names.
"""

import asyncio
import concurrent.futures
import dataclasses
import re
import uuid
from collections.abc import Callable

from .tasks import Task, TaskOptions, TaskResult, run_task

__all__ = ["run_tasks", "lost_result"]

_FUTURE_ERRORS = (Exception, asyncio.CancelledError, concurrent.futures.CancelledError)


def lost_result(task: Task, error: BaseException) -> TaskResult:
    """The result of a task that never came back (the error names why)."""
    worker = getattr(error, "last_worker", None)
    worker = str(getattr(worker, "address", worker) or "")
    attempts = getattr(error, "allowed_failures", None)
    if attempts is not None:  # distributed.KilledWorker
        message = f"its worker died on each of {attempts + 1} attempts"
    else:
        message = (str(error).strip().splitlines() or [""])[0].split(". ")[0][:200]
    return TaskResult(task=task, worker=worker, lost=f"{type(error).__name__}: {message}")


def run_tasks(client, tasks: list[Task], options: TaskOptions, *, retries: int = 1,
              on_result: Callable[[TaskResult], None] | None = None) -> list[TaskResult]:
    """Run ``tasks`` (heaviest first) on ``client``'s workers; results in the tasks' order."""
    from distributed import as_completed

    run_id = uuid.uuid4().hex[:8]
    options = dataclasses.replace(options, events_topic=f"rdu-regress-{run_id}")
    futures = {}
    for rank, task in enumerate(tasks):
        key = f"rdu-regress-{re.sub(r'[^A-Za-z0-9_.-]+', '_', task.name)}-{run_id}-{rank}"
        # Higher priority runs first: the queued tasks start in the planned order.
        future = client.submit(run_task, task, options, key=key, pure=False,
                               retries=retries, priority=len(tasks) - rank)
        futures[future] = rank
    results: list[TaskResult | None] = [None] * len(tasks)
    for future in as_completed(futures):
        rank = futures[future]
        try:
            result = future.result()
        except _FUTURE_ERRORS as error:
            result = lost_result(tasks[rank], error)
        result.started_on = _started_on(client, options.events_topic, result.task.name)
        results[rank] = result
        if on_result:
            on_result(result)
    return results


def _started_on(client, topic: str, name: str) -> list[str]:
    """The workers that started task ``name`` (from the events the tasks logged)."""
    try:
        events = client.get_events(topic)
    except Exception:  # the scheduler is gone: the result itself says what happened
        return []
    return [msg["worker"] for _, msg in events
            if isinstance(msg, dict) and msg.get("task") == name]
