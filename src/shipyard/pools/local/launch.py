"""The backend's side of a pool's supervisor: start it detached, find it dead, restart it, stop it.

Whether a pool has a supervisor is whether its lock (``supervisor.lock``, an ``flock``) is held:
a dead process holds no lock, so a reused pid can never pass for a supervisor. The backend takes
the free lock itself and hands that very lock to the supervisor it starts (an inherited
descriptor), so two CLI processes that find the same dead supervisor never start two. The pid
and its start time are recorded too, to signal it (never a stranger) and for ``supervisor_pid``.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import shipyard
from shipyard.errors import BackendError
from shipyard.pools.local import procs
from shipyard.pools.local.layout import Layout
from shipyard.pools.local.state import StateDB

HUNG_S = 120.0  # a supervisor whose heartbeat is this old, though it holds the lock, is hung


class Supervisors:
    def __init__(self, layout: Layout, db: StateDB) -> None:
        self.layout, self.db = layout, db
        self.children: dict[int, subprocess.Popen[bytes]] = {}  # reaped when they end

    def reap(self) -> None:
        for pid, child in list(self.children.items()):
            if child.poll() is not None:
                del self.children[pid]

    def _lock_fd(self, pool_id: str) -> int:
        path = self.layout.supervisor_lock(pool_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def running(self, pool_id: str) -> bool:
        """Whether the pool's supervisor lives (its lock is held)."""
        if not self.layout.supervisor_lock(pool_id).exists():
            return False
        fd = self._lock_fd(pool_id)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def ensure(self, pool_id: str) -> int | None:
        """The pid of the pool's supervisor, started again if it died (or hung); None for a pool being
        deleted or gone."""
        self.reap()
        for _ in range(2):
            fd = self._lock_fd(pool_id)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                rows = self.db.query("SELECT supervisor_pid, supervisor_start, heartbeat FROM pools WHERE id = ?",
                                     (pool_id,))
                if not rows:
                    return None
                row = rows[0]
                if row["heartbeat"] is not None and time.time() - row["heartbeat"] > HUNG_S:
                    self.kill_hung(pool_id, (row["supervisor_pid"], row["supervisor_start"]))
                    continue
                return self._recorded_pid(pool_id, row)
            try:
                return self._start(pool_id, fd)
            finally:
                os.close(fd)  # the supervisor holds the lock through its own copy
        return None

    def _recorded_pid(self, pool_id: str, row: sqlite3.Row) -> int | None:
        """The recorded pid of the live supervisor; while another process is starting one (its
        lock is held, the row not yet updated), the one it records."""
        deadline = time.monotonic() + 5.0
        while not procs.alive((row["supervisor_pid"], row["supervisor_start"])) and time.monotonic() < deadline:
            time.sleep(0.02)
            rows = self.db.query("SELECT supervisor_pid, supervisor_start FROM pools WHERE id = ?", (pool_id,))
            if not rows:
                return None
            row = rows[0]
        return int(row["supervisor_pid"]) if row["supervisor_pid"] else None

    def _start(self, pool_id: str, lock_fd: int) -> int | None:
        with self.db.write() as conn:
            rows = conn.execute("SELECT state FROM pools WHERE id = ?", (pool_id,)).fetchall()
            if not rows or rows[0]["state"] != "active":
                return None
            log_path = self.layout.supervisor_log(pool_id)
            child = spawn_supervisor(pool_id, lock_fd, log_path, self.layout.home)
            self.children[child.pid] = child
            conn.execute("UPDATE pools SET supervisor_pid = ?, supervisor_start = ?, heartbeat = ? WHERE id = ?",
                         (child.pid, procs.start_time(child.pid), time.time(), pool_id))
        return child.pid

    def kill_hung(self, pool_id: str, proc: procs.Proc) -> None:
        procs.kill([proc])
        self.reap()

    def stop(self, pool_id: str, proc: procs.Proc | None, grace_s: float) -> None:
        """SIGTERM the supervisor, wait for its lock, SIGKILL it after ``grace_s``."""
        if proc is not None and proc[0]:
            procs.signal_proc(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while self.running(pool_id) and time.monotonic() < deadline:
            self.reap()
            time.sleep(0.05)
        if self.running(pool_id):
            if proc is not None and proc[0]:
                procs.kill([proc])
            deadline = time.monotonic() + 5.0
            while self.running(pool_id) and time.monotonic() < deadline:
                time.sleep(0.05)
            if self.running(pool_id):
                raise BackendError(f"the supervisor of pool {pool_id} does not stop",
                                   hint=f"see {self.layout.supervisor_log(pool_id)}")
        self.reap()


def spawn_supervisor(pool_id: str, lock_fd: int, log_path: Path, home: Path) -> subprocess.Popen[bytes]:
    """``python -m shipyard.pools.local.supervisor POOL_ID``, detached: its own session, no
    terminal, its output in the pool's log, this very shipyard on its path."""
    source = str(Path(shipyard.__file__).resolve().parents[1])
    path = [source, *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)]
    env = {**os.environ, "SHIPYARD_HOME": str(home),
           "PYTHONPATH": os.pathsep.join(str(Path(p).absolute()) for p in path)}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        try:
            return subprocess.Popen(
                [sys.executable, "-m", "shipyard.pools.local.supervisor", pool_id, "--lock-fd", str(lock_fd)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, cwd="/", start_new_session=True,
                pass_fds=(lock_fd,), close_fds=True)
        except OSError as exc:
            raise BackendError(f"cannot start the supervisor of pool {pool_id}: {exc.strerror or exc}") from None


def stop_leftovers(db: StateDB, pool_id: str, uid: str, grace_s: float) -> None:
    """After the supervisor: any node or task of the pool still alive is stopped (SIGTERM, SIGKILL)."""
    nodes = db.query("SELECT pid, pid_start FROM nodes WHERE pool_id = ? AND pid IS NOT NULL", (pool_id,))
    tasks = db.query("SELECT t.pid, t.pid_start FROM tasks t JOIN jobs j ON j.id = t.job_id WHERE j.pool_id = ? "
                     "AND t.state = 'running' AND t.pid IS NOT NULL", (pool_id,))
    procs.stop([(r["pid"], r["pid_start"]) for r in nodes], grace_s=grace_s)
    procs.stop([(r["pid"], r["pid_start"]) for r in tasks], grace_s=grace_s, groups=True)
    left = procs.stop(procs.marked(uid), grace_s=grace_s)
    if left:
        raise BackendError(f"{len(left)} processes of pool {pool_id} do not stop: pids "
                           + ", ".join(str(p) for p, _ in left))
