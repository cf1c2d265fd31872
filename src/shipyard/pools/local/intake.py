"""What the backend checks before it records a pool, a job or tasks: ids, duplicates, dependencies.

The config layer (``pools.specs``) validates the files a user wrote; these checks are the
backend's own, for any caller: an id that would not be a safe path component, a task id that
the job already has or that a batch repeats (``ConflictError``), a dependency on a task the job
does not have (``NotFoundError``), a cycle, an output file pattern that leaves the task directory.
Output files' storage links are the node's to check, against the pool's credentials (``outputs``).
"""

from __future__ import annotations

from collections.abc import Iterable

from shipyard.errors import BackendError, ConflictError, NotFoundError
from shipyard.pools.local.codec import dumps
from shipyard.pools.local.layout import check_id
from shipyard.pools.local.outputs import pattern_problem
from shipyard.pools.models import PoolSpec, TaskSpec


def check_pool(spec: PoolSpec) -> None:
    check_id("pool", spec.id)
    if not spec.image.image_uris:
        raise BackendError(f"pool {spec.id} names no image_uris: the local backend boots nodes from VHDs",
                           hint="set custom_image.image_uris to the VHD's local:// (or storage) URI")
    if spec.dedicated < 0 or spec.low_priority < 0:
        raise BackendError(f"pool {spec.id}: node counts cannot be negative")
    if spec.max_tasks_per_node < 1:
        raise BackendError(f"pool {spec.id}: max_tasks_per_node must be at least 1")


def check_tasks(job_id: str, tasks: Iterable[TaskSpec], existing: set[str]) -> list[TaskSpec]:
    """The tasks, checked as one batch against the job's ``existing`` task ids."""
    batch = list(tasks)
    ids: set[str] = set()
    for task in batch:
        check_id("task", task.id)
        if task.id in existing or task.id in ids:
            raise ConflictError(f"task {task.id} already exists in job {job_id}")
        ids.add(task.id)
        for output in task.output_files:
            problem = pattern_problem(output.file_pattern)
            if problem is not None:
                raise BackendError(f"task {task.id}: output_files: {problem}")
            if not output.container or not output.storage_link:
                raise BackendError(f"task {task.id}: output_files: every output file needs a container and a "
                                   "storage link")
        if task.max_task_retries < 0:
            raise BackendError(f"task {task.id}: max_task_retries cannot be negative")
        if task.max_wall_time_s is not None and task.max_wall_time_s <= 0:
            raise BackendError(f"task {task.id}: max_wall_time must be positive")
        if task.retention_time_s is not None and task.retention_time_s < 0:
            raise BackendError(f"task {task.id}: retention_time cannot be negative")
        if task.container is not None and task.container.runtime not in ("docker", "singularity"):
            raise BackendError(f"task {task.id}: container runtime '{task.container.runtime}' is not docker or "
                               "singularity")
    known = existing | ids
    for task in batch:
        for dep in task.depends_on:
            if dep not in known:
                raise NotFoundError(f"task {task.id} depends on task {dep}, which job {job_id} does not have")
    _refuse_cycles(job_id, batch)
    return batch


def _refuse_cycles(job_id: str, batch: list[TaskSpec]) -> None:
    """Only tasks of one batch can form a cycle: earlier tasks cannot name later ones."""
    deps = {t.id: list(t.depends_on) for t in batch}
    state: dict[str, int] = {}  # 1: on the path, 2: done
    for start in deps:
        if state.get(start):
            continue
        stack = [(start, iter(deps[start]))]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif child in deps and state.get(child) == 1:
                path = [n for n, _ in stack]
                cycle = [*path[path.index(child):], child]
                raise BackendError(f"job {job_id}: task dependencies form a cycle: {' -> '.join(cycle)}")
            elif child in deps and not state.get(child):
                state[child] = 1
                stack.append((child, iter(deps[child])))


def task_rows(job_id: str, batch: list[TaskSpec]) -> list[tuple[str, str, str]]:
    return [(job_id, task.id, dumps(task)) for task in batch]
