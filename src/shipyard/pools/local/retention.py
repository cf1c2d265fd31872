"""Task retention: a completed task's directory is removed once its retention time has passed.

Batch's ``retentionTime`` (``retention_time`` in ``jobs.yaml``): how long a task's directory is
kept on its node after the task completes; unset, Batch keeps it 7 days, and so does this backend.
A pool that is deleted takes every task directory with it, whatever their retention.

The pool's supervisor keeps one heap of (when, task) (``Sweeper``): every task that completes on a
node goes in, and the tasks the database says had completed when the supervisor started. The
supervisor's loop waits no longer than the earliest (``next_due``) and sweeps what is due; nothing
polls. A directory is renamed into the pool's ``trash/`` (a name of this supervisor's own; instant, so the loop never waits on a
large tree) and an ``rm -rf`` process deletes it there (no thread: the supervisor forks its
nodes); what a supervisor that died left in the
trash is deleted when the next one starts. The task's record stays: listing the job still shows
the task, and reading its files says, in one line, that retention removed them (``check_kept``).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from shipyard.errors import NotFoundError
from shipyard.pools.local.layout import Layout, task_dir
from shipyard.pools.local.scheduler import COMPLETED, TaskRun
from shipyard.pools.models import Task, TaskState

log = logging.getLogger("shipyard.pools.local.supervisor")

DEFAULT_RETENTION_S = 7 * 86400.0  # Batch's default retentionTime


def retention_of(spec: dict[str, Any]) -> float:
    """The task's retention time in seconds (Batch's default when it sets none)."""
    value = spec.get("retention_time_s")
    return DEFAULT_RETENTION_S if value is None else float(value)


def span(seconds: float) -> str:
    """``1s``, ``90s``, ``45 minutes``, ``3 hours``, ``7 days``."""
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g}s"


def check_kept(directory: Path, task: Task, spec: dict[str, Any]) -> None:
    """``NotFoundError`` when retention has removed the task's directory."""
    if task.state != TaskState.COMPLETED or task.end_time is None or directory.exists():
        return
    retention = retention_of(spec)
    if time.time() >= task.end_time.timestamp() + retention:
        raise NotFoundError(f"the files of task {task.id} of job {task.job_id} were removed when its retention "
                            f"time ({span(retention)} after it completed) passed")


class Sweeper:
    """The supervisor's part: which task directories are due, and removing them."""

    def __init__(self, layout: Layout, pool_id: str) -> None:
        self.layout, self.pool_id = layout, pool_id
        self.trash = layout.pool_dir(pool_id) / "trash"
        self.heap: list[tuple[float, int, TaskRun, float]] = []  # (when, tie, task, its end time then)
        self.tie = itertools.count()
        # ``rm -rf`` processes, not a thread: the supervisor forks its nodes and stays single-threaded
        self.removers: list[subprocess.Popen[bytes]] = []

    def add(self, task: TaskRun) -> None:
        """``task`` has completed: its directory (if it ran on a node) goes when its retention is up."""
        if task.state == COMPLETED and task.node_id and task.end_time is not None:
            when = task.end_time + retention_of(task.spec)
            heapq.heappush(self.heap, (when, next(self.tie), task, task.end_time))

    def next_due(self) -> float:
        """When (``time.monotonic()``) the next directory is due; infinity when none is."""
        if not self.heap:
            return float("inf")
        return time.monotonic() + (self.heap[0][0] - time.time())

    def sweep(self, tasks: dict[int, TaskRun]) -> int:
        """Remove the directories that are due, of tasks still known (``tasks``: the scheduler's)."""
        now, removed = time.time(), 0
        while self.heap and self.heap[0][0] <= now:
            _, _, task, ended = heapq.heappop(self.heap)
            if tasks.get(task.seq) is not task or task.state != COMPLETED or task.end_time != ended:
                continue  # its job was deleted (its files with it), or it is no longer what was recorded
            assert task.node_id is not None
            directory = task_dir(self.layout.node_root(self.pool_id, task.node_id), task.job.id, task.id)
            removed += self._discard(directory, f"{os.getpid()}-{next(self.tie)}-{task.job.id}-{task.id}")
        if len(self.heap) > 1024 and len(self.heap) > 2 * len(tasks):  # deleted jobs' entries: drop them
            self.heap = [entry for entry in self.heap if tasks.get(entry[2].seq) is entry[2]]
            heapq.heapify(self.heap)
        return removed

    def _discard(self, directory: Path, name: str) -> int:
        target = self.trash / name
        try:
            self.trash.mkdir(parents=True, exist_ok=True)
            os.rename(directory, target)
        except FileNotFoundError:
            return 0  # its node left the pool, or it was never created
        except OSError as exc:
            log.warning("retention: cannot remove %s: %s", directory, exc.strerror or exc)
            return 0
        self._delete(target)
        return 1

    def clear_trash(self) -> None:
        """Delete what an earlier supervisor of the pool left in the trash."""
        try:
            left = sorted(self.trash.iterdir())
        except OSError:
            return
        for path in left:
            self._delete(path)

    def _delete(self, path: Path) -> None:
        self.removers = [r for r in self.removers if r.poll() is None]  # reap the finished ones
        try:
            self.removers.append(subprocess.Popen(
                ["rm", "-rf", "--", str(path)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, close_fds=True))
        except OSError as exc:  # no rm: remove it here, slower but never left behind
            log.warning("retention: rm: %s; removing %s in the supervisor", exc.strerror or exc, path)
            shutil.rmtree(path, ignore_errors=True)
