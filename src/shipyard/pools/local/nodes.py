"""A node as the supervisor keeps it: its process, its pipes, its tasks and where it is headed."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.pools.local.procs import Proc, start_time
from shipyard.pools.local.scheduler import TaskRun
from shipyard.pools.local.wire import LineReader, LineWriter

def thread_count() -> int:
    """The threads of this process (all of them, not only Python's)."""
    return len(os.listdir("/proc/self/task"))


class ForkedNode:
    """A node process forked from the supervisor: its pid and its two pipes, reaped by ``wait``."""

    def __init__(self, pid: int, to_node: int, from_node: int) -> None:
        self.pid, self.to_node, self.from_node = pid, to_node, from_node
        self.returncode: int | None = None

    @classmethod
    def start(cls, env: dict[str, str], log: Path) -> ForkedNode:
        from shipyard.pools.local import node

        threads = thread_count()
        assert threads == 1, f"the supervisor has {threads} threads: forking it is unsafe"
        down_r, down_w = os.pipe()  # supervisor -> node; both ends close-on-exec
        up_r, up_w = os.pipe()  # node -> supervisor
        log_fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        parent = os.getpid()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()  # nothing buffered here is written twice by the child
        try:
            pid = os.fork()  # the caller has called gc.freeze(): the child's collections leave its pages shared
        except OSError:
            for fd in (down_r, down_w, up_r, up_w, log_fd):
                os.close(fd)
            raise
        if pid == 0:  # the node; it never returns from here
            code = 1
            try:
                code = node.forked_main(down_r, up_w, log_fd, env, parent)
            except BaseException:  # noqa: BLE001 - whatever happened, this process ends here
                with contextlib.suppress(BaseException):
                    import traceback

                    traceback.print_exc()
            finally:
                with contextlib.suppress(BaseException):
                    sys.stdout.flush()
                    sys.stderr.flush()
                os._exit(code)
        for fd in (down_r, up_w, log_fd):
            os.close(fd)
        return cls(pid, down_w, up_r)

    def close_pipes(self) -> None:
        for attr in ("to_node", "from_node"):
            fd = getattr(self, attr)
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, attr, -1)

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = -1  # reaped elsewhere
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        """Its exit status (negative: the signal that ended it); None if still alive at ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.001
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


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
    proc: ForkedNode | None = None
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
        """Fork the node's process from this one (the zygote: what a node needs is imported here
        already), its pipes non-blocking, and queue ``init`` for it."""
        log.parent.mkdir(parents=True, exist_ok=True)
        self.proc = ForkedNode.start(env, log)
        os.set_blocking(self.proc.to_node, False)
        os.set_blocking(self.proc.from_node, False)
        self.pid_start = start_time(self.proc.pid)
        self.reader = LineReader(self.proc.from_node)
        self.writer = LineWriter(self.proc.to_node)
        self.writer.send(init)
        self.exit_sent = False
        self.dirty = True

    def close_pipes(self) -> int | None:
        """After its end of file: close the pipes, reap the process; its exit status."""
        if self.proc is None:
            return None
        self.proc.close_pipes()
        status = self.proc.wait(timeout=10)
        if status is None:
            self.proc.kill()
            status = self.proc.wait()
        self.proc, self.pid_start, self.reader, self.writer = None, None, None, None
        self.dirty = True
        return status
