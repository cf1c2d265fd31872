"""The local backend's state: one SQLite database that outlives every process.

WAL mode (readers never wait for the writer), a generous busy timeout, and every write in a
``BEGIN IMMEDIATE`` transaction, so concurrent ``shipyard`` processes and the supervisors never
lose an update. The schema is versioned with ``PRAGMA user_version``.

Who writes what: the backend (the CLI's process) inserts pools, jobs and tasks and records
*requests* (a resize, a terminate flag, a node's reboot), bumping the pool's ``generation``; the
pool's supervisor is the only writer of what runs (task and node states, exit codes, pids), in
batches. A job whose pool is gone has no supervisor: the backend then writes it itself.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from shipyard.errors import BackendError
from shipyard.pools.local.codec import from_epoch, load, loads
from shipyard.pools.models import (
    AllocationState,
    FailureInfo,
    ImageSource,
    Job,
    JobState,
    Node,
    NodeFillType,
    NodeState,
    Pool,
    PoolSpec,
    PoolState,
    StartTaskInfo,
    Task,
    TaskResult,
    TaskState,
)

SCHEMA_VERSION = 2
# A job's and a task's ``seq`` is never used twice (AUTOINCREMENT): the supervisor loads what is
# new as ``seq > the last it loaded``, and a plain rowid would give a job added after the newest
# one was deleted the deleted one's seq, so that it was never loaded (version 1's bug).
BUSY_TIMEOUT_S = 60.0

SCHEMA = """
CREATE TABLE pools (
    id TEXT PRIMARY KEY,
    uid TEXT NOT NULL,
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    allocation_state TEXT NOT NULL,
    target_dedicated INTEGER NOT NULL,
    target_low_priority INTEGER NOT NULL,
    resize_action TEXT NOT NULL DEFAULT 'requeue',
    generation INTEGER NOT NULL DEFAULT 0,
    seen_generation INTEGER NOT NULL DEFAULT -1,
    next_node INTEGER NOT NULL DEFAULT 0,
    supervisor_pid INTEGER,
    supervisor_start INTEGER,
    heartbeat REAL,
    created REAL NOT NULL
);
CREATE TABLE nodes (
    pool_id TEXT NOT NULL,
    id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    is_dedicated INTEGER NOT NULL,
    image_uri TEXT,
    state TEXT NOT NULL,
    state_changed REAL,
    running_tasks INTEGER NOT NULL DEFAULT 0,
    start_task TEXT,
    pid INTEGER,
    pid_start INTEGER,
    request TEXT,
    PRIMARY KEY (pool_id, id)
);
CREATE TABLE node_events (
    seq INTEGER PRIMARY KEY,
    pool_id TEXT NOT NULL,
    node_id TEXT NOT NULL,
    state TEXT NOT NULL,
    time REAL NOT NULL,
    detail TEXT
);
CREATE TABLE jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    pool_id TEXT NOT NULL,
    state TEXT NOT NULL,
    priority INTEGER NOT NULL,
    environment TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE tasks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    id TEXT NOT NULL,
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    node_id TEXT,
    pool_uid TEXT,
    pid INTEGER,
    pid_start INTEGER,
    exit_code INTEGER,
    result TEXT,
    failure TEXT,
    retry_count INTEGER NOT NULL DEFAULT 0,
    requeue_count INTEGER NOT NULL DEFAULT 0,
    blocked_by TEXT,
    start_time REAL,
    end_time REAL,
    terminate INTEGER NOT NULL DEFAULT 0,
    UNIQUE (job_id, id)
);
CREATE INDEX tasks_by_state ON tasks (job_id, state);
CREATE TABLE images (
    pool_id TEXT NOT NULL,
    uri TEXT NOT NULL,
    evidence TEXT NOT NULL,
    read_by TEXT,
    bytes_read INTEGER,
    requests INTEGER,
    read_at REAL,
    PRIMARY KEY (pool_id, uri)
);
"""


def _error(path: Path, exc: sqlite3.Error) -> BackendError:
    reason = str(exc).replace("\n", " ") or type(exc).__name__
    return BackendError(f"the local pool state {path} failed: {reason}",
                        hint="another shipyard process may hold it for long; rerun")


def _migrate_1_to_2(conn: sqlite3.Connection) -> None:
    """Version 1's ``jobs`` and ``tasks`` rebuilt with AUTOINCREMENT seqs, their rows and seqs kept."""
    statements = {part.strip().split()[2]: part.strip() for part in SCHEMA.split(";") if part.strip()}
    for table in ("jobs", "tasks"):
        conn.execute(f"ALTER TABLE {table} RENAME TO {table}_v1")
        conn.execute(statements[table])
        conn.execute(f"INSERT INTO {table} SELECT * FROM {table}_v1")
        conn.execute(f"DROP TABLE {table}_v1")
    conn.execute(statements["tasks_by_state"])


class StateDB:
    """One connection to the state database (one per process; not shared between threads)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            self._wal()
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.Error as exc:
            raise _error(path, exc) from None
        except OSError as exc:
            raise BackendError(f"cannot open the local pool state {path}: {exc.strerror or exc}") from None

    def _wal(self) -> None:
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:  # switching the journal mode can meet a lock the busy handler does not wait on
            try:
                self.conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise BackendError(f"the local pool state {self.path} has schema {version}; this shipyard knows "
                               f"{SCHEMA_VERSION}", hint="upgrade shipyard")
        with self.write() as conn:
            found = conn.execute("PRAGMA user_version").fetchone()[0]
            if found == 0:
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            elif found == 1:
                _migrate_1_to_2(conn)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on any error."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _error(self.path, exc) from None
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        try:
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")
            raise _error(self.path, exc) from None

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: one consistent snapshot for several queries."""
        try:
            self.conn.execute("BEGIN")
            yield self.conn
        except sqlite3.Error as exc:
            raise _error(self.path, exc) from None
        finally:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("COMMIT")

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        try:
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise _error(self.path, exc) from None

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()


# --- rows as models -----------------------------------------------------------------------------


def pool_from_row(row: sqlite3.Row, counts: dict[str, dict[str, int]] | None = None) -> Pool:
    spec = load(PoolSpec, json.loads(row["spec"]))
    by_state = (counts or {}).get(row["id"], {})
    dedicated = by_state.get("_dedicated", 0)
    low = by_state.get("_low_priority", 0)
    return Pool(
        id=row["id"],
        state=PoolState(row["state"]),
        allocation_state=AllocationState(row["allocation_state"]),
        vm_size=spec.vm_size,
        image=load(ImageSource, json.loads(row["spec"])["image"]),
        target_dedicated=row["target_dedicated"],
        target_low_priority=row["target_low_priority"],
        current_dedicated=dedicated,
        current_low_priority=low,
        max_tasks_per_node=spec.max_tasks_per_node,
        node_fill_type=NodeFillType(spec.node_fill_type),
        node_counts=tuple((NodeState(s), n) for s, n in sorted(by_state.items()) if not s.startswith("_")),
        created=from_epoch(row["created"]),
        node_runtime=spec.node_runtime,
    )


def node_counts(conn: sqlite3.Connection, pool_id: str | None = None) -> dict[str, dict[str, int]]:
    """``pool -> {state: count, "_dedicated": n, "_low_priority": n}``."""
    sql = "SELECT pool_id, state, is_dedicated, COUNT(*) AS n FROM nodes"
    rows = conn.execute(sql + (" WHERE pool_id = ?" if pool_id else "") + " GROUP BY pool_id, state, is_dedicated",
                        (pool_id,) if pool_id else ()).fetchall()
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        pool = counts.setdefault(row["pool_id"], {})
        pool[row["state"]] = pool.get(row["state"], 0) + row["n"]
        key = "_dedicated" if row["is_dedicated"] else "_low_priority"
        pool[key] = pool.get(key, 0) + row["n"]
    return counts


def node_from_row(row: sqlite3.Row) -> Node:
    return Node(
        id=row["id"],
        pool_id=row["pool_id"],
        state=NodeState(row["state"]),
        is_dedicated=bool(row["is_dedicated"]),
        image_uri=row["image_uri"],
        running_tasks=row["running_tasks"],
        start_task=loads(StartTaskInfo, row["start_task"]),
        state_changed=from_epoch(row["state_changed"]),
    )


def job_from_row(row: sqlite3.Row, counts: dict[str, dict[str, int]]) -> Job:
    by_state = counts.get(row["id"], {})
    return Job(
        id=row["id"],
        pool_id=row["pool_id"],
        state=JobState(row["state"]),
        priority=row["priority"],
        task_counts=tuple((TaskState(s), by_state.get(s, 0)) for s in TaskState),
        created=from_epoch(row["created"]),
    )


def task_counts(conn: sqlite3.Connection, job_id: str | None = None) -> dict[str, dict[str, int]]:
    sql = "SELECT job_id, state, COUNT(*) AS n FROM tasks"
    rows = conn.execute(sql + (" WHERE job_id = ?" if job_id else "") + " GROUP BY job_id, state",
                        (job_id,) if job_id else ()).fetchall()
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        counts.setdefault(row["job_id"], {})[row["state"]] = row["n"]
    return counts


TASK_COLUMNS = ("seq, job_id, id, spec, state, node_id, exit_code, result, failure, retry_count, requeue_count, "
                "blocked_by, start_time, end_time")


def task_from_row(row: sqlite3.Row) -> Task:
    return Task(
        id=row["id"],
        job_id=row["job_id"],
        state=TaskState(row["state"]),
        command_line=json.loads(row["spec"])["command_line"],
        exit_code=row["exit_code"],
        result=TaskResult(row["result"]) if row["result"] else None,
        failure=loads(FailureInfo, row["failure"]),
        node_id=row["node_id"],
        retry_count=row["retry_count"],
        requeue_count=row["requeue_count"],
        blocked_by=tuple(json.loads(row["blocked_by"])) if row["blocked_by"] else (),
        start_time=from_epoch(row["start_time"]),
        end_time=from_epoch(row["end_time"]),
    )
