"""``LocalBackend``: the ``PoolBackend`` protocol on this machine (see the package docstring).

Every call that touches a pool first makes sure its supervisor lives, starting it again if it
died (``launch.Supervisors.ensure``): that is the recovery. Calls return once the request is
recorded; the supervisor acts on it within milliseconds (callers poll, or use the ``wait_for_*``
helpers). ``terminate_task`` and ``delete_job`` wait for the supervisor to have done it, and
``delete_pool`` stops everything of the pool before it returns.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from shipyard.errors import BackendError, ConflictError, NotFoundError
from shipyard.pools.local import files, intake, retention
from shipyard.pools.local.codec import dumps
from shipyard.pools.local.launch import Supervisors, stop_leftovers
from shipyard.pools.local.layout import Layout, check_id, task_dir
from shipyard.pools.local.nodes import TRANSITIONAL
from shipyard.pools.local.rootcache import prepare_roots
from shipyard.pools.local.shell import NodeShell
from shipyard.pools.local.trash import discard
from shipyard.pools.local.state import (
    TASK_COLUMNS,
    StateDB,
    job_from_row,
    node_counts,
    node_from_row,
    pool_from_row,
    task_counts,
    task_from_row,
)
from shipyard.pools.protocol import Progress
from shipyard.pools.models import (
    Job,
    JobSpec,
    Node,
    NodeFile,
    Pool,
    PoolSpec,
    Task,
    TaskAction,
    TaskSpec,
    TaskState,
)

T = TypeVar("T")
WAIT_S = 30.0  # how long terminate_task and delete_job wait for the supervisor to act


class LocalBackend:
    kind = "local"

    def __init__(self, home: str | Path | None = None, *, stop_grace_s: float = 10.0) -> None:
        self.layout = Layout(home)
        self.db = StateDB(self.layout.db)
        self.supervisors = Supervisors(self.layout, self.db)
        self.stop_grace_s = stop_grace_s

    # --- helpers --------------------------------------------------------------------------------

    def _pool_row(self, pool_id: str) -> dict[str, Any]:
        rows = self.db.query("SELECT * FROM pools WHERE id = ?", (check_id("pool", pool_id),))
        if not rows:
            raise NotFoundError(f"pool {pool_id} does not exist")
        return dict(rows[0])

    def _job_row(self, job_id: str) -> dict[str, Any]:
        rows = self.db.query("SELECT * FROM jobs WHERE id = ?", (check_id("job", job_id),))
        if not rows:
            raise NotFoundError(f"job {job_id} does not exist")
        return dict(rows[0])

    def _pool_exists(self, pool_id: str) -> bool:
        return bool(self.db.query("SELECT 1 FROM pools WHERE id = ?", (pool_id,)))

    def _pool_active(self, pool_id: str) -> bool:
        rows = self.db.query("SELECT state FROM pools WHERE id = ?", (pool_id,))
        return bool(rows) and rows[0]["state"] == "active"

    def _touch(self, pool_id: str) -> None:
        """Make sure the pool's supervisor lives (recovery), if the pool is active."""
        if self._pool_active(pool_id):
            self.supervisors.ensure(pool_id)

    def supervisor_pid(self, pool_id: str) -> int | None:
        """The pid of the pool's supervisor, a detached daemon (started again if it had died)."""
        self._pool_row(pool_id)
        return self.supervisors.ensure(pool_id)

    # --- pools ----------------------------------------------------------------------------------

    def add_pool(self, spec: PoolSpec, *, progress: Progress | None = None) -> Pool:
        """Record the pool and start its supervisor. A pool of the ``image`` node runtime has its
        image's root unpacked first (once per image: ``rootcache``), or is refused with the fix."""
        intake.check_pool(spec)
        if self._pool_exists(spec.id):
            raise ConflictError(f"pool {spec.id} already exists")
        spec = prepare_roots(spec, self.layout.home, progress)
        now = time.time()
        with self.db.write() as conn:
            if conn.execute("SELECT 1 FROM pools WHERE id = ?", (spec.id,)).fetchall():
                raise ConflictError(f"pool {spec.id} already exists")
            shutil.rmtree(self.layout.pool_dir(spec.id), ignore_errors=True)  # left by a crashed delete
            conn.execute(
                "INSERT INTO pools (id, uid, spec, state, allocation_state, target_dedicated, target_low_priority, "
                "heartbeat, created) VALUES (?, ?, ?, 'active', ?, ?, ?, ?, ?)",
                (spec.id, uuid.uuid4().hex, dumps(spec), "resizing" if spec.target_nodes else "steady",
                 spec.dedicated, spec.low_priority, now, now))
        self.supervisors.ensure(spec.id)
        return self.get_pool(spec.id)

    def get_pool(self, pool_id: str) -> Pool:
        self._pool_row(pool_id)
        self._touch(pool_id)
        with self.db.read() as conn:
            rows = conn.execute("SELECT * FROM pools WHERE id = ?", (pool_id,)).fetchall()
            if not rows:
                raise NotFoundError(f"pool {pool_id} does not exist")
            return pool_from_row(rows[0], node_counts(conn, pool_id))

    def list_pools(self) -> list[Pool]:
        for row in self.db.query("SELECT id FROM pools WHERE state = 'active'"):
            self.supervisors.ensure(row["id"])
        with self.db.read() as conn:
            counts = node_counts(conn)
            return [pool_from_row(r, counts) for r in conn.execute("SELECT * FROM pools ORDER BY id").fetchall()]

    def resize_pool(
        self, pool_id: str, dedicated: int, low_priority: int, *, task_action: TaskAction = TaskAction.REQUEUE
    ) -> Pool:
        if dedicated < 0 or low_priority < 0:
            raise BackendError(f"pool {pool_id}: node counts cannot be negative")
        self._pool_row(pool_id)
        with self.db.write() as conn:
            changed = conn.execute(
                "UPDATE pools SET target_dedicated = ?, target_low_priority = ?, resize_action = ?, "
                "allocation_state = 'resizing', generation = generation + 1 WHERE id = ? AND state = 'active'",
                (dedicated, low_priority, TaskAction(task_action).value, pool_id)).rowcount
        if not changed:
            raise ConflictError(f"pool {pool_id} is being deleted")
        return self.get_pool(pool_id)

    def delete_pool(self, pool_id: str) -> None:
        """Stop the supervisor, every node and every task of the pool; remove its state and files.

        Tasks that were running on it go back to active (their jobs stay, as on Batch)."""
        row = self._pool_row(pool_id)
        with self.db.write() as conn:
            conn.execute("UPDATE pools SET state = 'deleting', generation = generation + 1 WHERE id = ?", (pool_id,))
        proc = (int(row["supervisor_pid"]), int(row["supervisor_start"])) if row["supervisor_pid"] and row[
            "supervisor_start"] else None
        self.supervisors.stop(pool_id, proc, self.stop_grace_s)
        stop_leftovers(self.db, pool_id, str(row["uid"]), self.stop_grace_s)
        with self.db.write() as conn:
            conn.execute(
                "UPDATE tasks SET state = 'active', node_id = NULL, pool_uid = NULL, pid = NULL, pid_start = NULL, "
                "requeue_count = requeue_count + 1 WHERE state = 'running' AND job_id IN "
                "(SELECT id FROM jobs WHERE pool_id = ?)", (pool_id,))
            for table in ("nodes", "images", "node_events"):
                conn.execute(f"DELETE FROM {table} WHERE pool_id = ?", (pool_id,))
            conn.execute("DELETE FROM pools WHERE id = ? AND uid = ?", (pool_id, row["uid"]))
        left = discard(self.layout.root / "trash", self.layout.pool_dir(pool_id), f"{pool_id}-{row['uid']}")
        if left is not None:
            self.supervisors.children[left.pid] = left  # reaped with the supervisors' processes

    # --- nodes ----------------------------------------------------------------------------------

    def list_nodes(self, pool_id: str) -> list[Node]:
        self._pool_row(pool_id)
        self._touch(pool_id)
        return [node_from_row(r) for r in self.db.query("SELECT * FROM nodes WHERE pool_id = ? ORDER BY seq",
                                                        (pool_id,))]

    def node_shell(self, pool_id: str, node_id: str | None, command: Sequence[str] | None) -> NodeShell:
        """`pool ssh`: how to run ``command`` (None: a login shell) in a node as its tasks see it."""
        from shipyard.pools.local.codec import load
        from shipyard.pools.local.shell import choose_node, node_shell

        spec = load(PoolSpec, json.loads(self._pool_row(pool_id)["spec"]))
        return node_shell(self.layout, spec, choose_node(self.list_nodes(pool_id), pool_id, node_id), command)

    def _node_request(self, pool_id: str, node_ids: Sequence[str], request: str, *, shrink: bool) -> None:
        self._pool_row(pool_id)
        ids = [check_id("node", n) for n in node_ids]
        with self.db.write() as conn:
            rows = {r["id"]: r for r in conn.execute(
                "SELECT id, is_dedicated, state FROM nodes WHERE pool_id = ?", (pool_id,)).fetchall()}
            for node_id in ids:
                if node_id not in rows:
                    raise NotFoundError(f"node {node_id} is not in pool {pool_id}")
            for node_id in dict.fromkeys(ids):
                if shrink and rows[node_id]["state"] != "leavingpool":
                    column = "target_dedicated" if rows[node_id]["is_dedicated"] else "target_low_priority"
                    conn.execute(f"UPDATE pools SET {column} = MAX(0, {column} - 1) WHERE id = ?", (pool_id,))
                conn.execute("UPDATE nodes SET request = ? WHERE pool_id = ? AND id = ?", (request, pool_id, node_id))
            conn.execute("UPDATE pools SET generation = generation + 1 WHERE id = ?", (pool_id,))
        self._touch(pool_id)

    def delete_nodes(
        self, pool_id: str, node_ids: Sequence[str], *, task_action: TaskAction = TaskAction.REQUEUE
    ) -> None:
        self._node_request(pool_id, node_ids, f"remove:{TaskAction(task_action).value}", shrink=True)

    def reboot_nodes(self, pool_id: str, node_ids: Sequence[str]) -> None:
        self._node_request(pool_id, node_ids, "reboot", shrink=False)

    # --- jobs -----------------------------------------------------------------------------------

    def add_job(self, spec: JobSpec) -> Job:
        check_id("job", spec.id)
        check_id("pool", spec.pool_id)
        batch = intake.check_tasks(spec.id, spec.tasks, set())
        with self.db.write() as conn:
            if not conn.execute("SELECT 1 FROM pools WHERE id = ? AND state = 'active'", (spec.pool_id,)).fetchall():
                raise NotFoundError(f"pool {spec.pool_id} does not exist")
            if conn.execute("SELECT 1 FROM jobs WHERE id = ?", (spec.id,)).fetchall():
                raise ConflictError(f"job {spec.id} already exists")
            conn.execute("INSERT INTO jobs (id, pool_id, state, priority, environment, created) "
                         "VALUES (?, ?, 'active', ?, ?, ?)",
                         (spec.id, spec.pool_id, spec.priority, json.dumps(dict(spec.environment)), time.time()))
            conn.executemany("INSERT INTO tasks (job_id, id, spec, state) VALUES (?, ?, ?, 'active')",
                             intake.task_rows(spec.id, batch))
            conn.execute("UPDATE pools SET generation = generation + 1 WHERE id = ?", (spec.pool_id,))
        self._touch(spec.pool_id)
        return self.get_job(spec.id)

    def check_job(self, spec: JobSpec) -> None:
        """What ``add_job`` checks of ``spec`` itself (ids, tasks, dependencies), recording nothing:
        `jobs add` checks every job of a file before it adds the first."""
        check_id("job", spec.id)
        check_id("pool", spec.pool_id)
        intake.check_tasks(spec.id, spec.tasks, set())

    def get_job(self, job_id: str) -> Job:
        row = self._job_row(job_id)
        self._touch(str(row["pool_id"]))
        with self.db.read() as conn:
            rows = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchall()
            if not rows:
                raise NotFoundError(f"job {job_id} does not exist")
            return job_from_row(rows[0], task_counts(conn, job_id))

    def list_jobs(self) -> list[Job]:
        with self.db.read() as conn:
            counts = task_counts(conn)
            return [job_from_row(r, counts) for r in conn.execute("SELECT * FROM jobs ORDER BY seq").fetchall()]

    def terminate_job(self, job_id: str) -> None:
        row = self._job_row(job_id)
        if row["state"] in ("terminating", "completed"):
            return
        if row["state"] == "deleting":
            raise ConflictError(f"job {job_id} is being deleted")
        pool_id = str(row["pool_id"])
        with self.db.write() as conn:
            if self._pool_active(pool_id):
                conn.execute("UPDATE jobs SET state = 'terminating' WHERE id = ? AND state = 'active'", (job_id,))
                conn.execute("UPDATE pools SET generation = generation + 1 WHERE id = ?", (pool_id,))
            else:  # no supervisor: nothing of it runs
                conn.execute("UPDATE tasks SET state = 'completed', result = 'failure', failure = ?, end_time = ? "
                             "WHERE job_id = ? AND state != 'completed'",
                             (json.dumps(_ended("the task's job was terminated")), time.time(), job_id))
                conn.execute("UPDATE jobs SET state = 'completed' WHERE id = ?", (job_id,))
        self._touch(pool_id)

    def delete_job(self, job_id: str) -> None:
        row = self._job_row(job_id)
        pool_id = str(row["pool_id"])
        with self.db.write() as conn:
            if self._pool_active(pool_id):
                conn.execute("UPDATE jobs SET state = 'deleting' WHERE id = ?", (job_id,))
                conn.execute("UPDATE pools SET generation = generation + 1 WHERE id = ?", (pool_id,))
            else:
                conn.execute("DELETE FROM tasks WHERE job_id = ?", (job_id,))
                conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
                return
        self._touch(pool_id)
        self._wait(lambda: not self.db.query("SELECT 1 FROM jobs WHERE id = ?", (job_id,)), f"job {job_id} to go")

    # --- tasks ----------------------------------------------------------------------------------

    def add_tasks(self, job_id: str, tasks: Iterable[TaskSpec]) -> list[Task]:
        """All of ``tasks`` or, on any error, none of them."""
        specs = list(tasks)
        check_id("job", job_id)
        with self.db.write() as conn:
            rows = conn.execute("SELECT pool_id, state FROM jobs WHERE id = ?", (job_id,)).fetchall()
            if not rows:
                raise NotFoundError(f"job {job_id} does not exist")
            if rows[0]["state"] != "active":
                raise ConflictError(f"job {job_id} is {rows[0]['state']}: no task can be added to it")
            existing = {r["id"] for r in conn.execute("SELECT id FROM tasks WHERE job_id = ?", (job_id,))}
            batch = intake.check_tasks(job_id, specs, existing)
            conn.executemany("INSERT INTO tasks (job_id, id, spec, state) VALUES (?, ?, ?, 'active')",
                             intake.task_rows(job_id, batch))
            pool_id = rows[0]["pool_id"]
            conn.execute("UPDATE pools SET generation = generation + 1 WHERE id = ?", (pool_id,))
        self._touch(pool_id)
        return [Task(t.id, job_id, TaskState.ACTIVE, t.command_line) for t in batch]

    def list_tasks(self, job_id: str) -> list[Task]:
        row = self._job_row(job_id)
        self._touch(str(row["pool_id"]))
        return [task_from_row(r) for r in self.db.query(
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE job_id = ? ORDER BY seq", (job_id,))]

    def get_task(self, job_id: str, task_id: str) -> Task:
        row = self._job_row(job_id)
        self._touch(str(row["pool_id"]))
        rows = self.db.query(f"SELECT {TASK_COLUMNS} FROM tasks WHERE job_id = ? AND id = ?",
                             (job_id, check_id("task", task_id)))
        if not rows:
            raise NotFoundError(f"task {task_id} is not in job {job_id}")
        return task_from_row(rows[0])

    def terminate_task(self, job_id: str, task_id: str) -> None:
        """End the task (killing its process group if it runs); returns once it is completed."""
        task = self.get_task(job_id, task_id)
        if task.state == TaskState.COMPLETED:
            return
        pool_id = str(self._job_row(job_id)["pool_id"])
        with self.db.write() as conn:
            if self._pool_active(pool_id):
                conn.execute("UPDATE tasks SET terminate = 1 WHERE job_id = ? AND id = ?", (job_id, task_id))
                conn.execute("UPDATE pools SET generation = generation + 1 WHERE id = ?", (pool_id,))
            else:
                conn.execute("UPDATE tasks SET state = 'completed', result = 'failure', failure = ?, end_time = ? "
                             "WHERE job_id = ? AND id = ? AND state != 'completed'",
                             (json.dumps(_ended("the task was terminated")), time.time(), job_id, task_id))
                return
        self._touch(pool_id)
        self._wait(lambda: self.get_task(job_id, task_id).state == TaskState.COMPLETED,
                   f"task {task_id} to be terminated")

    # --- files ----------------------------------------------------------------------------------

    def _node_root_of(self, pool_id: str, node_id: str) -> tuple[Layout, str]:
        self._pool_row(pool_id)
        if not self.db.query("SELECT 1 FROM nodes WHERE pool_id = ? AND id = ?", (pool_id, check_id("node", node_id))):
            raise NotFoundError(f"node {node_id} is not in pool {pool_id}")
        return self.layout, f"node {node_id}"

    def list_node_files(self, pool_id: str, node_id: str, path: str = "") -> list[NodeFile]:
        _, what = self._node_root_of(pool_id, node_id)
        return files.list_files(self.layout.node_root(pool_id, node_id), path, what,
                                also_inside=(self.layout.home / "storage",))

    def read_node_file(self, pool_id: str, node_id: str, path: str) -> bytes:
        _, what = self._node_root_of(pool_id, node_id)
        return files.read_file(self.layout.node_root(pool_id, node_id), path, what,
                               also_inside=(self.layout.home / "storage",))

    def _task_dir(self, job_id: str, task_id: str) -> Path:
        task = self.get_task(job_id, task_id)
        pool_id = str(self._job_row(job_id)["pool_id"])
        if task.node_id is None:
            raise NotFoundError(f"task {task_id} of job {job_id} has not run on a node")
        if not self.db.query("SELECT 1 FROM nodes WHERE pool_id = ? AND id = ?", (pool_id, task.node_id)):
            raise NotFoundError(f"node {task.node_id}, which ran task {task_id}, is no longer in pool {pool_id}")
        directory = task_dir(self.layout.node_root(pool_id, task.node_id), job_id, task_id)
        spec = self.db.query("SELECT spec FROM tasks WHERE job_id = ? AND id = ?", (job_id, task_id))
        retention.check_kept(directory, task, json.loads(spec[0]["spec"]) if spec else {})
        return directory

    def list_task_files(self, job_id: str, task_id: str, path: str = "") -> list[NodeFile]:
        return files.list_files(self._task_dir(job_id, task_id), path, f"directory of task {task_id}")

    def read_task_file(self, job_id: str, task_id: str, path: str) -> bytes:
        return files.read_file(self._task_dir(job_id, task_id), path, f"directory of task {task_id}")

    # --- waiting (not in the protocol: for the CLI and the tests) --------------------------------

    def wait_for_nodes(self, pool_id: str, *, timeout_s: float = 120.0) -> list[Node]:
        """The pool's nodes once it is steady and none is still coming up (creating, starting,
        waiting for its start task, rebooting, leaving): idle, running, starttaskfailed or unusable."""
        def settled() -> list[Node] | None:
            pool = self.get_pool(pool_id)
            nodes = self.list_nodes(pool_id)
            if pool.allocation_state != "steady" or len(nodes) != pool.target_dedicated + pool.target_low_priority:
                return None
            return None if any(n.state in TRANSITIONAL for n in nodes) else nodes

        return self._wait(settled, f"the nodes of pool {pool_id}", timeout_s)

    def wait_for_tasks(self, job_id: str, task_ids: Iterable[str] | None = None, *,
                       timeout_s: float = 300.0) -> list[Task]:
        """The job's tasks (or those named) once each is completed, or blocked by a failed dependency."""
        wanted = set(task_ids) if task_ids is not None else None

        pool_id = str(self._job_row(job_id)["pool_id"])

        def settled() -> bool:
            # each poll reads only the ids of the tasks still to settle; the tasks are listed once, at the end
            self._touch(pool_id)
            pending = self.db.query("SELECT id FROM tasks WHERE job_id = ? AND state != ? AND blocked_by IS NULL",
                                    (job_id, TaskState.COMPLETED.value))
            return not any(wanted is None or r["id"] in wanted for r in pending)

        self._wait(settled, f"the tasks of job {job_id}", timeout_s)
        return [t for t in self.list_tasks(job_id) if wanted is None or t.id in wanted]

    def wait_for_requests(self, pool_id: str, *, timeout_s: float = 60.0) -> None:
        """Return once the pool's supervisor has read every request made so far (new jobs and tasks,
        resizes, terminations): what it schedules from then on takes them all into account."""
        def seen() -> bool:
            self._touch(pool_id)
            row = self._pool_row(pool_id)
            return bool(row["seen_generation"] >= row["generation"])

        self._wait(seen, f"the supervisor of pool {pool_id} to read the requests", timeout_s)

    def _wait(self, ready: Callable[[], T | bool | None], what: str, timeout_s: float = WAIT_S) -> T:
        deadline = time.monotonic() + timeout_s
        delay = 0.01
        while True:
            value = ready()
            if value:
                return value  # type: ignore[return-value]
            if time.monotonic() > deadline:
                raise BackendError(f"timed out after {timeout_s:g}s waiting for {what}")
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    def close(self) -> None:
        self.supervisors.reap()
        self.db.close()


def _ended(message: str) -> dict[str, str]:
    return {"category": "usererror", "code": "TaskEnded", "message": message}

