"""A local pool's supervisor: ``python -m shipyard.pools.local.supervisor POOL_ID``.

Started detached by ``LocalBackend`` (its own session), holding the pool's lock for as long as it
lives: the lock, not a pid, says whether the pool has a supervisor. It keeps one process per node
(``node``), brings the nodes to the pool's targets, schedules ready tasks onto free slots
(``scheduler``), sends them down the nodes' pipes and records what happens in the database in
batches, with a heartbeat. Requests (new jobs and tasks, resizes, terminations, reboots) come
through the database: each bumps the pool's ``generation``, which the loop reads when the
database changed.

On start it recovers: every process of the pool that still lives (recorded pids, checked by
their start times, and anything carrying the pool's marker) is killed, tasks that were running
are requeued without using a retry, and the nodes come back through ``starting``.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import logging
import os
import selectors
import signal
import sys
import time

from shipyard.pools.local import procs
from shipyard.pools.local.codec import dump
from shipyard.pools.local.dispatch import Dispatcher
from shipyard.pools.local.layout import POOL_MARKER_ENV, Layout
from shipyard.pools.local.node import SUPERVISOR_ENV, preload
from shipyard.pools.local.nodes import NodeProc
from shipyard.pools.local.state import StateDB

log = logging.getLogger("shipyard.pools.local.supervisor")

POLL_BUSY_S = 0.02  # how often the database is asked for requests while work is under way
POLL_IDLE_S = 0.1
FLUSH_S = 0.1  # task and node states are written at most this long after they change
HEARTBEAT_S = 1.0
STOP_GRACE_S = 10.0


class Supervisor(Dispatcher):
    def __init__(self, layout: Layout, pool_id: str) -> None:
        super().__init__(layout, pool_id, StateDB(layout.db))
        self.sel = selectors.DefaultSelector()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        self.sel.register(self.wake_r, selectors.EVENT_READ, None)
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_term)
        self.terminated = False
        self.db_closed = False

    def _on_term(self, signum: int, frame: object) -> None:
        self.terminated = True

    # --- the loop -------------------------------------------------------------------------------

    def run(self) -> int:
        if not self.load_pool():
            log.info("pool %s is gone or being deleted: nothing to supervise", self.pool_id)
            return 0
        preload()  # the nodes are forked from here: what they import is imported once
        self.node_env = {**os.environ, POOL_MARKER_ENV: self.uid, SUPERVISOR_ENV: str(os.getpid())}
        self.recover()
        self.sweeper.clear_trash()
        self.load_jobs()
        log.info("supervising pool %s (%s), pid %d", self.pool_id, self.uid, os.getpid())
        next_poll = next_flush = next_beat = 0.0
        while not self.stopping():
            now = time.monotonic()
            if now >= next_poll:
                self.poll_requests()
                next_poll = now + (POLL_BUSY_S if self.busy() else POLL_IDLE_S)
            self.reconcile()
            self.tick_nodes()
            self.dispatch()
            self.sweeper.sweep(self.sched.tasks)
            self.flush_pipes()
            now = time.monotonic()
            if self.urgent or (self.has_dirty() and now >= next_flush) or now >= next_beat:
                self.flush_state()
                next_flush = now + FLUSH_S
                if now >= next_beat:
                    next_beat = now + HEARTBEAT_S
            timeout = max(0.0, min(next_poll, next_beat, self.next_timer()) - time.monotonic())
            for key, events in self.sel.select(timeout):
                if key.data is None:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self.wake_r, 512)
                elif events & selectors.EVENT_READ:
                    self.read_node(key.data)
                else:
                    self.flush_node_pipe(key.data)
            procs.reap_children(keep=[n.pid for n in self.nodes.values() if n.pid])
        self.shutdown()
        return 0

    # --- node pipes -----------------------------------------------------------------------------

    def tick_nodes(self) -> None:
        super().tick_nodes()
        if self.db_closed:  # nodes were forked in this pass
            gc.unfreeze()  # the supervisor's own garbage is collectable again; the nodes keep theirs frozen
            self.db = StateDB(self.layout.db)
            self.db_closed = False

    def spawn_node(self, node: NodeProc) -> None:
        if not self.db_closed:
            # SQLite must not be open across a fork: the child's own connection would meet the
            # parent's locks in the library's memory ("locking protocol"). Closed for the pass.
            self.db.close()
            self.db_closed = True
            # what is here now stays out of the nodes' collections (their pages stay shared) and
            # of this process's until the pass ends (forking the same pages again costs less)
            gc.freeze()
        init = {"op": "init", "home": str(self.layout.home), "pool_id": self.pool_id, "pool_uid": self.uid,
                "marker_env": POOL_MARKER_ENV, "spec": dump(self.spec),
                "node": {"id": node.id, "is_dedicated": node.is_dedicated, "image_uri": node.image_uri}}
        env = {**self.node_env, "AZ_BATCH_NODE_ID": node.id}
        node.spawn(self.pool_id, env, self.layout.node_log(self.pool_id, node.id), init)
        assert node.reader is not None
        self.sel.register(node.reader.fd, selectors.EVENT_READ, node)
        self.flush_pipe(node)  # init goes now: the node starts while the next ones are forked
        self.set_state(node, "starting", f"process {node.pid}")

    def read_node(self, node: NodeProc) -> None:
        if node.reader is None:
            return
        messages = node.reader.read()
        if messages is None:
            self.forget_fds(node)
            status = node.close_pipes()
            self.node_exited(node, status)
            return
        for message in messages:
            self.on_message(node, message)

    def forget_fds(self, node: NodeProc) -> None:
        """Unregister both of the node's pipes before they are closed (a reused number must be free)."""
        for pipe in (node.reader, node.writer):
            if pipe is not None:
                with contextlib.suppress(KeyError, ValueError):
                    self.sel.unregister(pipe.fd)

    def flush_pipes(self) -> None:
        for node in self.nodes.values():
            self.flush_pipe(node)

    def flush_pipe(self, node: NodeProc) -> None:
        writer = node.writer
        if writer is not None and writer.pending and not writer.flush():
            with contextlib.suppress(KeyError):
                self.sel.register(writer.fd, selectors.EVENT_WRITE, node)

    def flush_node_pipe(self, node: NodeProc) -> None:
        writer = node.writer
        if writer is None or writer.flush():
            with contextlib.suppress(KeyError, ValueError):
                self.sel.unregister(writer.fd if writer else -1)

    # --- stopping -------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop every node (its tasks requeued), then anything of the pool left; write it all down."""
        log.info("stopping pool %s's nodes", self.pool_id)
        for node in self.nodes.values():
            if node.writer is not None and not node.exit_sent:
                node.writer.send({"op": "exit"})
                node.exit_sent = True
        deadline = time.monotonic() + STOP_GRACE_S
        while any(n.reader is not None for n in self.nodes.values()) and time.monotonic() < deadline:
            self.flush_pipes()
            for key, events in self.sel.select(0.1):
                if key.data is not None and events & selectors.EVENT_READ:
                    self.read_node(key.data)
                elif key.data is not None:
                    self.flush_node_pipe(key.data)
        for node in self.nodes.values():
            if node.proc is not None and node.reader is not None:
                procs.kill([(node.proc.pid, node.pid_start or 0)])
                self.forget_fds(node)
                status = node.close_pipes()
                self.node_exited(node, status)
        procs.kill(procs.marked(self.uid))
        self.requeue_all()
        self.flush_state()
        self.db.close()


def _hold_lock(layout: Layout, pool_id: str, lock_fd: int | None) -> int | None:
    """The pool's lock: inherited from the backend that started this process, or taken now."""
    if lock_fd is not None:
        os.set_inheritable(lock_fd, False)
        return lock_fd
    path = layout.supervisor_lock(pool_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def main(argv: list[str]) -> int:
    args = list(argv)
    lock_fd = None
    if "--lock-fd" in args:
        at = args.index("--lock-fd")
        lock_fd = int(args[at + 1])
        del args[at : at + 2]
    if len(args) != 1:
        print("usage: python -m shipyard.pools.local.supervisor POOL_ID", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s supervisor[%(process)d] %(message)s")
    layout = Layout()
    if _hold_lock(layout, args[0], lock_fd) is None:
        log.info("pool %s already has a supervisor", args[0])
        return 0
    procs.become_subreaper()
    return Supervisor(layout, args[0]).run()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
