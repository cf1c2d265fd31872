"""What the `jobs` and `data` commands do around the backend's calls, for any backend.

``add_jobs`` adds the jobs of one ``jobs.yaml`` all or nothing: every pool they name must exist,
no job id may be taken, and a backend that can check a job before recording it
(``CheckingBackend``) checks every job first; a job that still fails to be added (another command
racing this one) takes the jobs this call added with it. ``watch_tasks`` polls tasks until each
has completed or is blocked by a failed dependency (`jobs tasks list --poll-until-tasks-complete`);
``follow_task_file`` streams a task's file while it runs (`jobs add --tail`, `data files stream`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence

from shipyard.config.kinds import ConfigKind
from shipyard.config.loader import ConfigSet
from shipyard.errors import BackendError, ConflictError, NotFoundError, ShipyardError, UsageError
from shipyard.pools.models import Job, JobSpec, JobState, Task, TaskState
from shipyard.pools.protocol import CheckingBackend, PoolBackend

POLL_S = 0.25
FIRST_RUNNING = "@FIRSTRUNNING"  # Batch Shipyard's filespec word for "the job's first running task"


def settled(task: Task) -> bool:
    """Completed, or never to run (a dependency failed)."""
    return task.state == TaskState.COMPLETED or bool(task.blocked_by)


def selected_job_ids(backend: PoolBackend, config: ConfigSet | None, *, job_id: str | None = None,
                     all_jobs: bool = False) -> list[str]:
    """``--jobid``, every job the backend has (``--all-jobs``), or the jobs of ``jobs.yaml``."""
    if job_id is not None and all_jobs:
        raise UsageError("give --jobid or --all-jobs, not both")
    if job_id is not None:
        backend.get_job(job_id)  # NotFoundError for a job that is not there
        return [job_id]
    if all_jobs:
        return [job.id for job in backend.list_jobs()]
    if config is None or ConfigKind.JOBS not in config.files:
        raise UsageError("name the jobs: pass --jobid ID, or a jobs file (--jobs FILE or --configdir DIR)")
    jobs = config.jobs or []
    known = {job.id for job in backend.list_jobs()}
    missing = [job.id for job in jobs if job.id not in known]
    if missing:
        raise NotFoundError(f"job {', '.join(missing)} of the jobs file does not exist",
                            hint="add the jobs with `shipyard jobs add`")
    return [job.id for job in jobs]


def add_jobs(backend: PoolBackend, specs: Sequence[JobSpec]) -> list[Job]:
    """Add every job of ``specs`` with its tasks, or none of them."""
    for pool_id in dict.fromkeys(spec.pool_id for spec in specs):
        try:
            backend.get_pool(pool_id)
        except NotFoundError:
            raise NotFoundError(f"pool {pool_id} does not exist: the jobs run on it",
                                hint="add it first with `shipyard pool add`") from None
    existing = {job.id: job for job in backend.list_jobs()}
    for spec in specs:
        if spec.id in existing:
            raise ConflictError(f"job {spec.id} already exists ({existing[spec.id].state.value})",
                                hint=f"delete it first with `shipyard jobs del --jobid {spec.id}`, or give the "
                                     "job another id")
    if isinstance(backend, CheckingBackend):
        for spec in specs:
            try:
                backend.check_job(spec)
            except (NotFoundError, ConflictError):
                raise
            except BackendError as exc:  # the job itself is refused: invalid input, nothing was added
                raise UsageError(f"job {spec.id}: {exc.message}", hint=exc.hint) from None
    added: list[Job] = []
    try:
        for spec in specs:
            added.append(backend.add_job(spec))
    except ShipyardError:
        for job in reversed(added):
            with contextlib.suppress(ShipyardError):  # the error being raised says more
                backend.delete_job(job.id)
        raise
    return added


def watch_tasks(
    backend: PoolBackend, job_ids: Sequence[str], *, interval_s: float = POLL_S,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[dict[str, list[Task]]]:
    """The tasks of each job, per look, until every one has settled (the last one yielded)."""
    while True:
        tasks = {job_id: backend.list_tasks(job_id) for job_id in job_ids}
        yield tasks
        if all(settled(task) for listed in tasks.values() for task in listed):
            return
        sleep(interval_s)


def wait_for_job(backend: PoolBackend, job_id: str, *, interval_s: float = POLL_S,
                 sleep: Callable[[float], None] = time.sleep) -> Job:
    """The job once it has completed (after `jobs term`: its tasks ended)."""
    while True:
        job = backend.get_job(job_id)
        if job.state == JobState.COMPLETED:
            return job
        sleep(interval_s)


def first_running_task(backend: PoolBackend, job_id: str, *, interval_s: float = POLL_S,
                       sleep: Callable[[float], None] = time.sleep) -> str:
    """``@FIRSTRUNNING``: the id of the job's first running task, once one runs."""
    while True:
        tasks = backend.list_tasks(job_id)
        for task in tasks:
            if task.state == TaskState.RUNNING:
                return task.id
        if tasks and all(settled(task) for task in tasks):
            raise NotFoundError(f"job {job_id} has no running task: all its tasks have completed")
        sleep(interval_s)


def follow_task_file(
    backend: PoolBackend, job_id: str, task_id: str, path: str, *, interval_s: float = POLL_S,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[bytes]:
    """The task's file ``path`` as it grows: each new run of bytes, until the task has completed
    and the file is read to its end. A task that will never run, or that ended without the file,
    is a ``NotFoundError``."""
    offset = 0
    while True:
        task = backend.get_task(job_id, task_id)  # read before the file: the last read is complete
        done = settled(task)
        try:
            data = backend.read_task_file(job_id, task_id, path)
        except NotFoundError:
            if done and task.blocked_by:
                raise NotFoundError(f"task {task_id} of job {job_id} will not run: it depends on failed task "
                                    f"{', '.join(task.blocked_by)}") from None
            if done:
                raise
            data = b""
        if len(data) < offset:  # the task ran again (a retry, a requeue): its file began again
            offset = 0
        if len(data) > offset:
            yield data[offset:]
            offset = len(data)
        if done:
            return
        sleep(interval_s)
