"""A node as the supervisor keeps it: its process, its pipes, its tasks and where it is headed."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.pools.local.procs import Proc, start_time
from shipyard.pools.local.scheduler import TaskRun
from shipyard.pools.local.wire import LineReader, LineWriter

IDLE, RUNNING, STARTING = "idle", "running", "starting"
UNUSABLE, LEAVING, REBOOTING = "unusable", "leavingpool", "rebooting"
WAITING_FOR_START_TASK, START_TASK_FAILED = "waitingforstarttask", "starttaskfailed"
# states of a node that is being brought up: what "wait for the nodes" waits out
TRANSITIONAL = frozenset({"creating", STARTING, WAITING_FOR_START_TASK, REBOOTING, LEAVING})
UPDATE_NODE = ("UPDATE nodes SET state = ?, state_changed = ?, running_tasks = ?, start_task = ?, pid = ?, "
               "pid_start = ? WHERE pool_id = ? AND id = ?")


@dataclass(eq=False)
class NodeProc:
    id: str
    seq: int
    is_dedicated: bool
    image_uri: str | None
    state: str
    state_changed: float
    start_task: dict[str, Any] | None = None
    proc: subprocess.Popen[bytes] | None = None
    pid_start: int | None = None
    reader: LineReader | None = None
    writer: LineWriter | None = None
    running: dict[int, TaskRun] = field(default_factory=dict)
    leaving: str | None = None  # the task action it leaves the pool with
    rebooting: bool = False
    exit_sent: bool = False
    restart_at: float | None = None
    deaths: int = 0
    drain: list[Proc] = field(default_factory=list)  # processes of a dead incarnation, being killed
    drain_tasks: list[TaskRun] = field(default_factory=list)
    next_scan: float = 0.0
    dirty: bool = True
    inserted: bool = False

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def accepting(self, capacity: int) -> bool:
        return (self.writer is not None and not self.writer.broken and self.state in (IDLE, RUNNING)
                and self.leaving is None and not self.exit_sent and len(self.running) < capacity)

    def row(self, pool_id: str) -> tuple[Any, ...]:
        return (self.state, self.state_changed, len(self.running),
                json.dumps(self.start_task) if self.start_task else None, self.pid, self.pid_start, pool_id, self.id)

    def spawn(self, pool_id: str, env: dict[str, str], log: Path, init: dict[str, Any]) -> None:
        """Start the node's process, its pipes non-blocking, and send it ``init``."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "shipyard.pools.local.node", pool_id, self.id],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env, cwd="/", close_fds=True)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        os.set_blocking(self.proc.stdin.fileno(), False)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.pid_start = start_time(self.proc.pid)
        self.reader = LineReader(self.proc.stdout.fileno())
        self.writer = LineWriter(self.proc.stdin.fileno())
        self.writer.send(init)
        self.exit_sent = False
        self.dirty = True

    def close_pipes(self) -> int | None:
        """After its end of file: close the pipes, reap the process; its exit status."""
        if self.proc is None:
            return None
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        try:
            status = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            status = self.proc.wait()
        self.proc, self.pid_start, self.reader, self.writer = None, None, None, None
        self.dirty = True
        return status
