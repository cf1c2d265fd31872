"""The supervisor's side of the database: load the pool, recover it, read requests, write results.

Reads are cheap when nothing changed (``PRAGMA data_version`` says whether another connection
committed; the pool's ``generation`` whether that was for this pool). Writes are batched: every
task and node that changed since the last flush, the node events, the removed nodes and deleted
jobs, the allocation state and the heartbeat, in one ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import abc
import json
import os
import logging
import shutil
import sqlite3
import time
from typing import Any

from shipyard.pools.local import procs
from shipyard.pools.local.codec import load
from shipyard.pools.local.layout import Layout
from shipyard.pools.local.nodes import STARTING, UPDATE_NODE, NodeProc
from shipyard.pools.local.retention import Sweeper
from shipyard.pools.local.scheduler import ACTIVE, COMPLETED, RUNNING, UPDATE_TASK, JobRun, Scheduler, TaskRun
from shipyard.pools.local.state import StateDB
from shipyard.pools.models import PoolSpec

log = logging.getLogger("shipyard.pools.local.supervisor")

TASK_LOAD = ("SELECT t.seq, t.job_id, t.id, t.spec, t.state, t.node_id, t.exit_code, t.result, t.failure, "
             "t.retry_count, t.requeue_count, t.blocked_by, t.start_time, t.end_time FROM tasks t JOIN jobs j "
             "ON j.id = t.job_id WHERE j.pool_id = ? AND t.seq > ? ORDER BY t.seq")


class PoolSync(abc.ABC):
    def __init__(self, layout: Layout, pool_id: str, db: StateDB) -> None:
        self.layout, self.pool_id, self.db = layout, pool_id, db
        self.sched = Scheduler()
        self.sweeper = Sweeper(layout, pool_id)  # task directories whose retention runs out
        self.nodes: dict[str, NodeProc] = {}
        self.uid = ""
        self.spec: PoolSpec
        self.targets = (0, 0)
        self.resize_action = "requeue"
        self.generation = -1
        self.data_version: int | None = None
        self.last_job_seq = self.last_task_seq = self.next_node = 0
        self.deleting = self.gone = False
        self.urgent = False
        self.allocation = "resizing"
        self.events: list[tuple[Any, ...]] = []
        self.removed_nodes: list[str] = []
        self.deleted_jobs: list[str] = []
        self.cleared_requests: list[tuple[str, str]] = []
        self.dirty_jobs: set[JobRun] = set()
        self.pid = os.getpid()
        self.pid_start = procs.start_time(self.pid)

    # --- loading --------------------------------------------------------------------------------

    def load_pool(self) -> bool:
        rows = self.db.query("SELECT * FROM pools WHERE id = ?", (self.pool_id,))
        if not rows or rows[0]["state"] != "active":
            return False
        row = rows[0]
        self.uid = row["uid"]
        self.spec = load(PoolSpec, json.loads(row["spec"]))
        self.next_node = row["next_node"]
        self._apply_pool(row)
        for n in self.db.query("SELECT * FROM nodes WHERE pool_id = ? ORDER BY seq", (self.pool_id,)):
            node = NodeProc(n["id"], n["seq"], bool(n["is_dedicated"]), n["image_uri"], n["state"],
                            n["state_changed"] or time.time(), json.loads(n["start_task"]) if n["start_task"] else None)
            node.inserted = True
            node.leaving = "requeue" if n["state"] == "leavingpool" else None
            self.nodes[node.id] = node
        return True

    def _apply_pool(self, row: sqlite3.Row) -> None:
        self.targets = (row["target_dedicated"], row["target_low_priority"])
        self.resize_action = row["resize_action"]
        self.generation = row["generation"]

    def recover(self) -> None:
        """Kill whatever of the pool still lives, requeue what was running, restart every node."""
        rows = self.db.query("SELECT pid, pid_start FROM nodes WHERE pool_id = ? AND pid IS NOT NULL", (self.pool_id,))
        tasks = self.db.query("SELECT t.pid, t.pid_start FROM tasks t JOIN jobs j ON j.id = t.job_id WHERE "
                              "j.pool_id = ? AND t.state = 'running' AND t.pid IS NOT NULL", (self.pool_id,))
        recorded = [(r["pid"], r["pid_start"]) for r in rows]
        leaders = [(r["pid"], r["pid_start"]) for r in tasks]
        procs.kill(recorded)
        procs.kill(leaders, groups=True)
        left = procs.kill(procs.marked(self.uid))
        if recorded or leaders:
            log.info("recovery: stopped %d node and %d task processes left by the last supervisor",
                     len(recorded), len(leaders))
        if left:
            log.warning("recovery: %d processes of the pool do not die: %s", len(left), left)
        now = time.time()
        with self.db.write() as conn:
            requeued = conn.execute(
                "UPDATE tasks SET state = 'active', node_id = NULL, pool_uid = NULL, pid = NULL, pid_start = NULL, "
                "requeue_count = requeue_count + 1 WHERE state = 'running' AND job_id IN "
                "(SELECT id FROM jobs WHERE pool_id = ?)", (self.pool_id,)).rowcount
            conn.execute("UPDATE nodes SET pid = NULL, pid_start = NULL, running_tasks = 0 WHERE pool_id = ?",
                         (self.pool_id,))
        if requeued:
            log.info("recovery: requeued %d tasks that were running", requeued)
        for node in list(self.nodes.values()):
            if node.leaving is not None:
                self.remove_node(node)
            else:
                node.restart_at = 0.0
                if node.state != STARTING:
                    node.state, node.state_changed, node.dirty = STARTING, now, True
                    self.events.append((self.pool_id, node.id, STARTING, now, "the supervisor restarted"))
        self.urgent = True

    def load_jobs(self) -> None:
        """New jobs and tasks, from one snapshot (a job committed between two reads is never missed)."""
        with self.db.read() as conn:
            jobs = conn.execute("SELECT * FROM jobs WHERE pool_id = ? AND seq > ? ORDER BY seq",
                                (self.pool_id, self.last_job_seq)).fetchall()
            tasks = conn.execute(TASK_LOAD, (self.pool_id, self.last_task_seq)).fetchall()
        for row in jobs:
            self.last_job_seq = max(self.last_job_seq, row["seq"])
            if row["id"] not in self.sched.jobs:
                # a terminating or deleting job starts active: apply_job_states ends it as asked
                state = "completed" if row["state"] == "completed" else "active"
                self.sched.add_job(JobRun(row["id"], row["priority"], state, dict(json.loads(row["environment"]))))
        self.load_tasks(tasks)
        self.apply_job_states()

    def load_tasks(self, rows: list[sqlite3.Row]) -> None:
        for row in rows:
            self.last_task_seq = max(self.last_task_seq, row["seq"])
            job = self.sched.jobs.get(row["job_id"])
            if job is None or row["id"] in job.tasks:
                continue
            task = TaskRun(row["seq"], job, row["id"], json.loads(row["spec"]), row["state"], row["node_id"],
                           exit_code=row["exit_code"], result=row["result"],
                           failure=json.loads(row["failure"]) if row["failure"] else None,
                           retry_count=row["retry_count"], requeue_count=row["requeue_count"],
                           blocked_by=json.loads(row["blocked_by"]) if row["blocked_by"] else [],
                           start_time=row["start_time"], end_time=row["end_time"])
            if task.state == RUNNING:  # never after recovery; a row written under a lost supervisor
                task.state, task.node_id = ACTIVE, None
                self.sched.touch(task)
            self.sched.add_task(task)
            if task.state == COMPLETED:
                self.sweeper.add(task)

    # --- requests -------------------------------------------------------------------------------

    def poll_requests(self) -> None:
        version = self.db.query("PRAGMA data_version")[0][0]
        if version == self.data_version:
            return
        self.data_version = version
        rows = self.db.query("SELECT * FROM pools WHERE id = ?", (self.pool_id,))
        if not rows or rows[0]["uid"] != self.uid:
            self.gone = True
            return
        if rows[0]["state"] != "active":
            self.deleting = True
            return
        if rows[0]["generation"] == self.generation:
            return
        self._apply_pool(rows[0])
        self.load_jobs()
        for row in self.db.query("SELECT t.seq FROM tasks t JOIN jobs j ON j.id = t.job_id WHERE t.terminate = 1 "
                                 "AND t.state != 'completed' AND j.pool_id = ?", (self.pool_id,)):
            task = self.sched.tasks.get(row["seq"])
            if task is not None:
                self.terminate_task(task, "terminate")
        for row in self.db.query("SELECT id, request FROM nodes WHERE pool_id = ? AND request IS NOT NULL",
                                 (self.pool_id,)):
            node = self.nodes.get(row["id"])
            self.cleared_requests.append((row["id"], row["request"]))
            if node is not None:
                self.node_request(node, row["request"])
        self.urgent = True

    def apply_job_states(self) -> None:
        for row in self.db.query("SELECT id, state FROM jobs WHERE pool_id = ? AND state IN "
                                 "('terminating', 'deleting')", (self.pool_id,)):
            job = self.sched.jobs.get(row["id"])
            if job is None:
                continue
            if row["state"] == "deleting" and job.state != "deleting":
                self.delete_job(job)
            elif row["state"] == "terminating" and job.state == "active":
                self.terminate_job(job)

    # what the requests lead to: the dispatcher's decisions
    @abc.abstractmethod
    def terminate_task(self, task: TaskRun, why: str) -> None:
        """End ``task`` (active or running) as a failure: ``why`` is "terminate" or "job"."""

    @abc.abstractmethod
    def terminate_job(self, job: JobRun) -> None:
        """End every task of ``job``; it completes once none runs."""

    @abc.abstractmethod
    def delete_job(self, job: JobRun) -> None:
        """End every task of ``job``, then remove it."""

    @abc.abstractmethod
    def node_request(self, node: NodeProc, request: str) -> None:
        """``reboot`` or ``remove:<task action>``, as the backend asked."""

    @abc.abstractmethod
    def remove_node(self, node: NodeProc) -> None:
        """Forget a node that has left the pool (its process gone)."""

    # --- writing --------------------------------------------------------------------------------

    def has_dirty(self) -> bool:
        return bool(self.sched.dirty or self.dirty_jobs or self.events or any(n.dirty for n in self.nodes.values()))

    def flush_state(self) -> None:
        tasks = [t.row(self.uid) for t in self.sched.dirty.values()]
        new_nodes = [n for n in self.nodes.values() if not n.inserted]
        nodes = [n.row(self.pool_id) for n in self.nodes.values() if n.dirty]
        jobs = [(j.state, j.id) for j in self.dirty_jobs if j.id not in self.deleted_jobs]
        with self.db.write() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO nodes (pool_id, id, seq, is_dedicated, image_uri, state, state_changed) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(self.pool_id, n.id, n.seq, int(n.is_dedicated), n.image_uri, n.state, n.state_changed)
                 for n in new_nodes])
            conn.executemany(UPDATE_TASK, tasks)
            conn.executemany(UPDATE_NODE, nodes)
            conn.executemany("INSERT INTO node_events (pool_id, node_id, state, time, detail) VALUES (?, ?, ?, ?, ?)",
                             self.events)
            conn.executemany("DELETE FROM nodes WHERE pool_id = ? AND id = ?",
                             [(self.pool_id, n) for n in self.removed_nodes])
            conn.executemany("UPDATE nodes SET request = NULL WHERE pool_id = ? AND id = ? AND request = ?",
                             [(self.pool_id, n, r) for n, r in self.cleared_requests])
            conn.executemany("UPDATE jobs SET state = ? WHERE id = ?", jobs)
            for job_id in self.deleted_jobs:
                conn.execute("DELETE FROM tasks WHERE job_id = ?", (job_id,))
                conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
            conn.execute("UPDATE pools SET heartbeat = ?, allocation_state = ?, next_node = ?, supervisor_pid = ?, "
                         "supervisor_start = ?, seen_generation = ? WHERE id = ? AND uid = ?",
                         (time.time(), self.allocation, self.next_node, self.pid, self.pid_start, self.generation,
                          self.pool_id, self.uid))
        for node in new_nodes:
            node.inserted = True
        for node in self.nodes.values():
            node.dirty = False
        for node_id in self.removed_nodes:
            shutil.rmtree(self.layout.node_root(self.pool_id, node_id), ignore_errors=True)
        self.sched.dirty.clear()
        self.dirty_jobs.clear()
        self.events.clear()
        self.removed_nodes.clear()
        self.cleared_requests.clear()
        self.deleted_jobs.clear()
        self.urgent = False

