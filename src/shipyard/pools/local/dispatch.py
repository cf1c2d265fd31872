"""The supervisor's decisions: nodes to their targets, tasks onto slots, and what each event means.

Slots: a node takes up to ``max_tasks_per_node`` tasks; ``pack`` fills the busiest node that has
room, ``spread`` the least loaded. A task that exits non-zero is retried while it has retries
left (``max_task_retries``); a wall-time kill, a launch failure or a full disk is final. A task
whose node died or left is requeued (``requeue_count``, no retry used) once every process of it
is gone, so it never runs twice at once. A node whose process died goes ``unusable`` and comes
back through ``starting`` after a short back-off.
"""

from __future__ import annotations

import abc
import logging
import signal
import time
from typing import Any

from shipyard.pools.local import procs
from shipyard.pools.local.nodes import IDLE, LEAVING, REBOOTING, RUNNING, START_TASK_FAILED, UNUSABLE, NodeProc
from shipyard.pools.local.runner import FAILURE_EXIT_CODE
from shipyard.pools.local.scheduler import ACTIVE, COMPLETED, FAILURE, SUCCESS, JobRun, TaskRun
from shipyard.pools.local.scheduler import RUNNING as TASK_RUNNING
from shipyard.pools.local.sync import PoolSync

log = logging.getLogger("shipyard.pools.local.supervisor")

DRAIN_SCAN_S = 0.2
MAX_BACKOFF_S = 30.0
ENDED = {
    "terminate": "the task was terminated",
    "job": "the task's job was terminated",
    "node": "the task's node was removed from the pool",
}


def ended(why: str) -> dict[str, str]:
    return {"category": "usererror", "code": "TaskEnded", "message": ENDED[why]}


class Dispatcher(PoolSync, abc.ABC):
    terminated = False

    @abc.abstractmethod
    def spawn_node(self, node: NodeProc) -> None:
        """Start ``node``'s process (the supervisor owns the pipes)."""

    def stopping(self) -> bool:
        return self.terminated or self.deleting or self.gone

    def busy(self) -> bool:
        return self.sched.ready_count > 0 or any(n.running for n in self.nodes.values())

    def next_timer(self) -> float:
        times = [n.restart_at for n in self.nodes.values() if n.restart_at is not None and n.proc is None]
        times += [n.next_scan for n in self.nodes.values() if n.drain]
        return min([*times, self.sweeper.next_due()])  # the next task directory whose retention is up

    def set_state(self, node: NodeProc, state: str, detail: str | None = None) -> None:
        if node.state == state:
            return
        node.state, node.state_changed, node.dirty = state, time.time(), True
        if state not in (IDLE, RUNNING):
            self.events.append((self.pool_id, node.id, state, node.state_changed, detail))
            self.urgent = True
            log.info("node %s: %s%s", node.id, state, f" ({detail})" if detail else "")

    # --- nodes ----------------------------------------------------------------------------------

    def reconcile(self) -> None:
        if self.stopping():
            return
        steady = True
        for dedicated, target in ((True, self.targets[0]), (False, self.targets[1])):
            members = [n for n in self.nodes.values() if n.is_dedicated == dedicated and n.leaving is None]
            for _ in range(target - len(members)):
                self.create_node(dedicated)
            if len(members) > target:  # idle nodes leave first, then the least busy; the newest first
                for node in sorted(members, key=lambda n: (len(n.running), -n.seq))[: len(members) - target]:
                    self.start_leaving(node, self.resize_action)
            steady = steady and len(members) == target
        self.allocation = "steady" if steady and not any(n.leaving for n in self.nodes.values()) else "resizing"

    def create_node(self, dedicated: bool) -> None:
        self.next_node += 1
        uris = self.spec.image.image_uris
        image = None
        if uris:  # the VHD fewest nodes boot from
            load = dict.fromkeys(uris, 0)
            for other in self.nodes.values():
                if other.image_uri in load:
                    load[other.image_uri] += 1
            image = min(uris, key=lambda uri: load[uri])
        node = NodeProc(f"node-{self.next_node}", self.next_node, dedicated, image, "creating", time.time())
        node.restart_at = 0.0
        self.nodes[node.id] = node
        self.events.append((self.pool_id, node.id, "creating", node.state_changed, image))
        self.urgent = True

    def start_leaving(self, node: NodeProc, action: str) -> None:
        if node.leaving is not None:
            return
        node.leaving = action
        node.rebooting = False
        self.set_state(node, LEAVING, action)
        if node.writer is not None and (action in ("requeue", "terminate") or not node.running):
            self.send_exit(node)

    def send_exit(self, node: NodeProc) -> None:
        if node.writer is not None and not node.exit_sent:
            node.writer.send({"op": "exit"})
            node.exit_sent = True

    def node_request(self, node: NodeProc, request: str) -> None:
        if request == "reboot" and node.leaving is None:
            node.rebooting = True
            self.set_state(node, REBOOTING)
            if node.proc is not None:
                self.send_exit(node)
            else:
                node.restart_at = 0.0
        elif request.startswith("remove:"):
            self.start_leaving(node, request.split(":", 1)[1])

    def remove_node(self, node: NodeProc) -> None:
        self.nodes.pop(node.id, None)
        if node.inserted:
            self.removed_nodes.append(node.id)
        log.info("node %s: removed from the pool", node.id)
        self.urgent = True

    def tick_nodes(self) -> None:
        now = time.monotonic()
        for node in list(self.nodes.values()):
            if node.drain and now >= node.next_scan:
                self.check_drain(node)
            if node.drain:
                continue
            for task in node.drain_tasks:
                self.after_node_loss(node, task)
            node.drain_tasks = []
            if node.leaving is not None and node.proc is None:
                self.remove_node(node)
            elif node.leaving is not None and not node.running:
                self.send_exit(node)
            elif node.proc is None and node.restart_at is not None and now >= node.restart_at and not self.stopping():
                node.restart_at = None
                self.spawn_node(node)

    def node_exited(self, node: NodeProc, status: int | None) -> None:
        leftovers = list(node.running.values())
        node.running.clear()
        for task in leftovers:
            task.job.running -= 1
        if leftovers or not node.exit_sent:  # it died: its tasks may still live, orphaned
            leaders = [(t.pid, t.pid_start) for t in leftovers if t.pid and t.pid_start]
            for leader in leaders:
                procs.signal_group(leader, signal.SIGKILL)
            node.drain = leaders
            node.drain_tasks = leftovers
            node.next_scan = 0.0
            self.check_drain(node)
        if node.leaving is not None or self.stopping():
            return
        if node.exit_sent and node.rebooting:
            node.rebooting = False
            node.restart_at = 0.0
            return
        node.deaths += 1
        self.set_state(node, UNUSABLE, f"its process exited with status {status}")
        node.restart_at = time.monotonic() + min(MAX_BACKOFF_S, 2.0 ** (node.deaths - 1))

    def check_drain(self, node: NodeProc) -> None:
        """Kill what is left of a dead node's tasks; done when nothing of them lives."""
        found = procs.marked(self.uid, {"AZ_BATCH_NODE_ID": node.id})
        left = [p for p in node.drain if procs.alive(p)] + [p for p in found if p not in node.drain]
        for proc in left:
            procs.signal_proc(proc, signal.SIGKILL)
        node.drain = left
        node.next_scan = time.monotonic() + DRAIN_SCAN_S

    def after_node_loss(self, node: NodeProc, task: TaskRun) -> None:
        if task.kill in ("terminate", "job"):
            self.complete(task, FAILURE, ended(task.kill))
        elif node.leaving == "terminate":
            self.complete(task, FAILURE, ended("node"))
        else:
            self.requeue(task)

    def requeue_all(self) -> None:
        """At shutdown, once every node process is gone: their tasks go back to active."""
        for node in self.nodes.values():
            for task in node.drain_tasks:
                if task.state == TASK_RUNNING:
                    self.requeue(task)
            node.drain_tasks = []

    # --- messages from the nodes ----------------------------------------------------------------

    def on_message(self, node: NodeProc, message: dict[str, Any]) -> None:
        event = message["ev"]
        if event == "done":
            self.on_done(node, message)
        elif event == "started":
            task = node.running.get(message["seq"])
            if task is not None:
                task.pid, task.pid_start, task.start_time = message["pid"], message["pid_start"], message["time"]
                self.sched.touch(task)
        elif event == "state" and node.leaving is None and not node.rebooting:
            node.start_task = {"state": "running", "start_time": message.get("time")}
            self.set_state(node, message["state"])
        elif event == "starttask":
            node.start_task = message["info"]
            node.dirty = True
            if node.leaving is None and not node.rebooting:
                ok = message["info"].get("result") == SUCCESS
                failure = (message["info"].get("failure") or {}).get("message")
                self.set_state(node, IDLE if ok else START_TASK_FAILED, None if ok else failure)
                if ok:
                    node.deaths = 0

    def on_done(self, node: NodeProc, message: dict[str, Any]) -> None:
        task = node.running.pop(message["seq"], None)
        if task is None:
            return
        task.job.running -= 1
        task.exit_code, task.end_time = message["exit_code"], message["end"]
        task.start_time = task.start_time or message["start"]
        task.pid = task.pid_start = None
        self.node_load_changed(node)
        if message["killed"] in ("kill", "exit"):
            self.after_node_loss(node, task) if task.kill or node.leaving else self.requeue(task)
            return
        failure = message["failure"]
        if failure is None:
            self.complete(task, SUCCESS, None)
        elif task.kill in ("terminate", "job"):  # it failed as it was being ended: no retry
            self.complete(task, FAILURE, ended(task.kill))
        elif failure["code"] == FAILURE_EXIT_CODE and task.retry_count < int(task.spec.get("max_task_retries") or 0):
            task.retry_count += 1
            self.back_to_active(task)
        else:
            self.complete(task, FAILURE, failure)

    def node_load_changed(self, node: NodeProc) -> None:
        node.dirty = True
        if node.state in (IDLE, RUNNING):
            self.set_state(node, RUNNING if node.running else IDLE)

    # --- task transitions -----------------------------------------------------------------------

    def complete(self, task: TaskRun, result: str, failure: dict[str, str] | None) -> None:
        task.state, task.result, task.failure, task.kill = COMPLETED, result, failure, None
        if task.end_time is None:
            task.end_time = time.time()
        self.sched.touch(task)
        self.sweeper.add(task)
        job = task.job
        if result == SUCCESS:
            self.sched.succeeded(task)
        else:
            self.sched.failed(task)
            if task.spec.get("exit_job_on_failure") and job.state == "active":
                self.terminate_job(job)
        self.settle_job(job)

    def back_to_active(self, task: TaskRun) -> None:
        task.state, task.node_id, task.pid, task.pid_start, task.kill = ACTIVE, None, None, None, None
        self.sched.touch(task)
        if task.job.state == "active":
            self.sched.push_ready(task, front=True)
        elif task.job.state == "terminating":
            self.complete(task, FAILURE, ended("job"))
        else:
            self.settle_job(task.job)

    def requeue(self, task: TaskRun) -> None:
        task.requeue_count += 1
        task.exit_code = task.start_time = task.end_time = None
        self.back_to_active(task)

    def dispatch(self) -> None:
        if self.stopping():
            return
        capacity, pack = self.spec.max_tasks_per_node, self.spec.node_fill_type == "pack"
        while self.sched.ready_count:
            best: NodeProc | None = None
            for node in self.nodes.values():
                if node.accepting(capacity) and (
                        best is None or (len(node.running) > len(best.running) if pack
                                         else len(node.running) < len(best.running))):
                    best = node
            if best is None:
                return
            task = self.sched.next_task()
            if task is None:
                return
            self.start_on(best, task)

    def start_on(self, node: NodeProc, task: TaskRun) -> None:
        task.state, task.node_id, task.start_time, task.end_time = TASK_RUNNING, node.id, time.time(), None
        task.exit_code = task.result = task.failure = None
        task.job.running += 1
        node.running[task.seq] = task
        assert node.writer is not None
        node.writer.send({"op": "run", "seq": task.seq, "job": task.job.id, "spec": task.spec, "env": task.job.env})
        self.sched.touch(task)
        self.node_load_changed(node)

    def terminate_task(self, task: TaskRun, why: str) -> None:
        if task.state == ACTIVE:
            self.sched.unqueue(task)
            self.complete(task, FAILURE, ended(why))
        elif task.state == TASK_RUNNING and task.kill is None:
            task.kill = why
            node = self.nodes.get(task.node_id or "")
            if node is not None and node.writer is not None and task.seq in node.running:
                node.writer.send({"op": "kill", "seq": task.seq})

    # --- jobs -----------------------------------------------------------------------------------

    def terminate_job(self, job: JobRun) -> None:
        job.state = "terminating"
        self.dirty_jobs.add(job)
        self.sched.unqueue_job(job)
        for task in list(job.tasks.values()):
            self.terminate_task(task, "job")
        self.settle_job(job)

    def delete_job(self, job: JobRun) -> None:
        job.state = "deleting"
        self.sched.unqueue_job(job)
        for task in job.tasks.values():
            if task.state == TASK_RUNNING:
                self.terminate_task(task, "job")
        self.settle_job(job)

    def settle_job(self, job: JobRun) -> None:
        """A terminating job completes, and a deleted one goes, once none of its tasks runs."""
        if job.running > 0:
            return
        if job.state == "terminating":
            job.state = "completed"
            self.dirty_jobs.add(job)
        elif job.state == "deleting" and job.id in self.sched.jobs:
            self.sched.forget_job(job)
            self.dirty_jobs.discard(job)
            self.deleted_jobs.append(job.id)
            for node in self.nodes.values():
                if node.writer is not None:
                    node.writer.send({"op": "forget_job", "job": job.id})
            self.urgent = True
