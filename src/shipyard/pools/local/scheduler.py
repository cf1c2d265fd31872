"""What runs next: the supervisor's in-memory view of its pool's jobs and tasks.

A task is *ready* when it is active and every task it depends on completed with success; a
dependency that failed (or is itself blocked) blocks it instead, with ``blocked_by`` naming it.
Ready tasks are taken job by job: the highest priority first, jobs of equal priority in turn
(round-robin), each job's tasks in the order they were added (a retry or a requeue goes to the
front). Nothing here does I/O; the supervisor records what changed (``dirty``) in batches.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

ACTIVE, RUNNING, COMPLETED = "active", "running", "completed"
SUCCESS, FAILURE = "success", "failure"


@dataclass(eq=False)
class JobRun:
    id: str
    priority: int
    state: str
    env: dict[str, str]
    tasks: dict[str, TaskRun] = field(default_factory=dict)
    ready: deque[TaskRun] = field(default_factory=deque)
    dependants: dict[str, list[TaskRun]] = field(default_factory=dict)
    queued: bool = False  # in its priority level's rotation
    running: int = 0  # its tasks on a node now


@dataclass(eq=False)
class TaskRun:
    seq: int
    job: JobRun
    id: str
    spec: dict[str, Any]
    state: str = ACTIVE
    node_id: str | None = None
    pid: int | None = None
    pid_start: int | None = None
    exit_code: int | None = None
    result: str | None = None
    failure: dict[str, str] | None = None
    retry_count: int = 0
    requeue_count: int = 0
    blocked_by: list[str] = field(default_factory=list)
    start_time: float | None = None
    end_time: float | None = None
    waiting: set[str] = field(default_factory=set)
    kill: str | None = None  # why the supervisor asked its node to end it: "terminate", "job", "requeue"
    queued: bool = False

    def row(self, pool_uid: str | None) -> tuple[Any, ...]:
        """The columns the supervisor writes, in ``UPDATE_TASK``'s order."""
        return (self.state, self.node_id, pool_uid if self.node_id else None, self.pid, self.pid_start,
                self.exit_code, self.result, json.dumps(self.failure) if self.failure else None, self.retry_count,
                self.requeue_count, json.dumps(self.blocked_by) if self.blocked_by else None, self.start_time,
                self.end_time, self.seq)


UPDATE_TASK = ("UPDATE tasks SET state = ?, node_id = ?, pool_uid = ?, pid = ?, pid_start = ?, exit_code = ?, "
               "result = ?, failure = ?, retry_count = ?, requeue_count = ?, blocked_by = ?, start_time = ?, "
               "end_time = ? WHERE seq = ?")


class Scheduler:
    def __init__(self) -> None:
        self.jobs: dict[str, JobRun] = {}
        self.tasks: dict[int, TaskRun] = {}
        self.levels: dict[int, deque[JobRun]] = {}
        self.dirty: dict[int, TaskRun] = {}
        self.ready_count = 0

    def touch(self, task: TaskRun) -> None:
        self.dirty[task.seq] = task

    def add_job(self, job: JobRun) -> None:
        self.jobs[job.id] = job

    def add_task(self, task: TaskRun) -> None:
        """A task as the database holds it; an active one is queued, waits, or is blocked."""
        job = task.job
        job.tasks[task.id] = task
        self.tasks[task.seq] = task
        if task.state == COMPLETED:  # loaded after a dependant that named it: settle that one now
            if task.result == SUCCESS:
                self.succeeded(task)
            else:
                self.failed(task)
            return
        if task.state != ACTIVE:
            return
        for dep in task.spec.get("depends_on") or ():
            parent = job.tasks.get(dep)
            if parent is not None and parent.state == COMPLETED and parent.result == SUCCESS:
                continue
            if parent is not None and (parent.state == COMPLETED or parent.blocked_by):
                if dep not in task.blocked_by:
                    task.blocked_by.append(dep)
                continue
            task.waiting.add(dep)
            job.dependants.setdefault(dep, []).append(task)
        if task.blocked_by:
            self.touch(task)
            self._block_dependants(task)
        elif not task.waiting:
            self.push_ready(task)

    def push_ready(self, task: TaskRun, *, front: bool = False) -> None:
        job = task.job
        if task.queued or job.state != "active":
            return
        task.queued = True
        self.ready_count += 1
        if front:
            job.ready.appendleft(task)
        else:
            job.ready.append(task)
        if not job.queued:
            job.queued = True
            self.levels.setdefault(job.priority, deque()).append(job)

    def next_task(self) -> TaskRun | None:
        """The next ready task: highest priority first, equal priorities round-robin."""
        for priority in sorted(self.levels, reverse=True):
            rotation = self.levels[priority]
            while rotation:
                job = rotation.popleft()
                if job.ready:
                    task = job.ready.popleft()
                    task.queued = False
                    self.ready_count -= 1
                    if job.ready:
                        rotation.append(job)
                    else:
                        job.queued = False
                    return task
                job.queued = False
            del self.levels[priority]
        return None

    def unqueue(self, task: TaskRun) -> None:
        if task.queued:
            task.job.ready.remove(task)
            task.queued = False
            self.ready_count -= 1

    def unqueue_job(self, job: JobRun) -> None:
        """Take every ready task of ``job`` out of the queue at once (a job ending)."""
        for task in job.ready:
            task.queued = False
        self.ready_count -= len(job.ready)
        job.ready.clear()

    def succeeded(self, task: TaskRun) -> None:
        """``task`` completed with success: its dependants that wait on nothing else become ready."""
        for dependant in task.job.dependants.pop(task.id, []):
            dependant.waiting.discard(task.id)
            if dependant.state == ACTIVE and not dependant.waiting and not dependant.blocked_by:
                self.push_ready(dependant)

    def failed(self, task: TaskRun) -> None:
        """``task`` completed with failure: its dependants, and theirs, are blocked."""
        self._block_dependants(task)

    def _block_dependants(self, task: TaskRun) -> None:
        pending = [task]
        while pending:
            parent = pending.pop()
            for dependant in parent.job.dependants.pop(parent.id, []):
                dependant.waiting.discard(parent.id)
                if dependant.state != ACTIVE or parent.id in dependant.blocked_by:
                    continue
                dependant.blocked_by.append(parent.id)
                self.unqueue(dependant)
                self.touch(dependant)
                pending.append(dependant)

    def forget_job(self, job: JobRun) -> None:
        self.unqueue_job(job)
        for task in job.tasks.values():
            self.tasks.pop(task.seq, None)
            self.dirty.pop(task.seq, None)
        self.jobs.pop(job.id, None)
