"""Faults, with real processes: a node killed mid-task, the supervisor killed, a full disk, an
image that node prep rejects. Every run of a task logs its pid; no two runs may ever overlap."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from fixtures.pools import (
    build_ubuntu_vhd,
    finished_tasks,
    home_processes,
    idle_nodes,
    settled_nodes,
    task_in_state,
    wait_until,
)
from fixtures.trees import remove
from shipyard.pools.local.backend import LocalBackend
from shipyard.pools.models import JobSpec, NodeState, TaskResult, TaskSpec, TaskState


def ticking(log: Path, ticks: int) -> str:
    """A task that logs ``<pid> start``, ``ticks`` x ``<pid> tick`` (every 50 ms), ``<pid> end``."""
    loop = f'i=0; while [ $i -lt {ticks} ]; do echo "$$ tick" >> {log}; sleep 0.05; i=$((i+1)); done'
    return f"/bin/sh -c 'echo \"$$ start\" >> {log}; {loop}; echo \"$$ end\" >> {log}'"


def runs_of(log: Path) -> list[tuple[str, list[str]]]:
    """The log as runs: consecutive lines of one pid. A pid seen again after another's lines overlapped."""
    runs: list[tuple[str, list[str]]] = []
    for line in log.read_text().splitlines():
        pid, what = line.split()
        if runs and runs[-1][0] == pid:
            runs[-1][1].append(what)
        else:
            runs.append((pid, [what]))
    pids = [pid for pid, _ in runs]
    assert len(pids) == len(set(pids)), f"two runs overlapped: {pids}"
    return runs


def ticks_logged(log: Path, count: int) -> bool:
    return log.exists() and log.read_text().count("tick") >= count


def node_events(backend: LocalBackend, pool_id: str, node_id: str, after: float) -> list[str]:
    rows = backend.db.query("SELECT state FROM node_events WHERE pool_id = ? AND node_id = ? AND time >= ? "
                            "ORDER BY seq", (pool_id, node_id, after))
    return [r["state"] for r in rows]


@pytest.fixture
def image(pool_files, ubuntu_vhd) -> str:
    return pool_files.upload(ubuntu_vhd)


def test_a_node_killed_mid_task_is_unusable_then_back_and_its_task_runs_elsewhere_once(
        backend, pool_files, image, tmp_path: Path) -> None:
    import time

    backend.add_pool(pool_files.spec("faulty", [image], dedicated=2))
    idle_nodes(backend, "faulty", 2)
    log = tmp_path / "runs.log"
    backend.add_job(JobSpec("job", "faulty", tasks=(TaskSpec("t1", ticking(log, 30)),)))
    victim = task_in_state(backend, "job", "t1", TaskState.RUNNING).node_id
    wait_until(lambda: ticks_logged(log, 3), "the task to be under way")
    pid = backend.db.query("SELECT pid FROM nodes WHERE pool_id = 'faulty' AND id = ?", (victim,))[0][0]
    killed_at = time.time()
    os.kill(pid, signal.SIGKILL)

    task = finished_tasks(backend, "job")["t1"]
    assert (task.result, task.retry_count, task.requeue_count) == (TaskResult.SUCCESS, 0, 1)
    assert task.node_id != victim
    runs = runs_of(log)
    assert len(runs) == 2 and "end" not in runs[0][1] and runs[1][1][-1] == "end"
    wait_until(lambda: backend.list_nodes("faulty")[0].state == NodeState.IDLE and all(
        n.state == NodeState.IDLE for n in backend.list_nodes("faulty")), "both nodes idle again")
    events = node_events(backend, "faulty", victim, killed_at)
    assert events[:3] == ["unusable", "starting", "waitingforstarttask"], events


def test_a_killed_supervisor_is_restarted_by_the_next_call_and_nothing_runs_twice(
        backend, pool_files, image, tmp_path: Path, home: Path) -> None:
    import time

    backend.add_pool(pool_files.spec("orphaned", [image], dedicated=1))
    node = idle_nodes(backend, "orphaned", 1)[0]
    log = tmp_path / "runs.log"
    backend.add_job(JobSpec("job", "orphaned", tasks=(TaskSpec("t1", ticking(log, 40)),)))
    task_in_state(backend, "job", "t1", TaskState.RUNNING)
    wait_until(lambda: ticks_logged(log, 3), "the task to be under way")
    old = backend.db.query("SELECT supervisor_pid FROM pools WHERE id = 'orphaned'")[0][0]
    killed_at = time.time()
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: not backend.supervisors.running("orphaned"), "the supervisor's lock to be free")
    # before any call can recover it, the node has seen its supervisor die: it stopped its task and left
    wait_until(lambda: not home_processes(home), "the node and its task to stop by themselves")
    assert backend.db.query("SELECT state FROM tasks WHERE id = 't1'")[0][0] == "running"  # as last recorded

    backend.get_pool("orphaned")  # any call that touches the pool brings its supervisor back
    new = backend.supervisor_pid("orphaned")
    assert new and new != old and os.getsid(new) == new
    task = finished_tasks(backend, "job")["t1"]
    assert (task.result, task.retry_count, task.requeue_count) == (TaskResult.SUCCESS, 0, 1)
    runs = runs_of(log)
    assert len(runs) == 2 and "end" not in runs[0][1] and runs[1][1][-1] == "end"
    assert idle_nodes(backend, "orphaned", 1)[0].id == node.id
    assert "starting" in node_events(backend, "orphaned", node.id, killed_at)


def test_a_full_disk_fails_the_task_with_the_reason_and_the_node_stays_usable(
        backend, pool_files, image, home: Path) -> None:
    backend.add_pool(pool_files.spec("full", [image], dedicated=1))
    node = idle_nodes(backend, "full", 1)[0]
    workitems = home / "local" / "pools" / "full" / node.id / "workitems"
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(workitems)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs over the node's workitems: {mounted.stderr.strip()}")
    try:
        backend.add_job(JobSpec("job", "full", tasks=(
            TaskSpec("writer", "/bin/sh -c 'yes 0123456789abcdef | head -c 4000000'"),)))
        writer = finished_tasks(backend, "job")["writer"]
        assert writer.result == TaskResult.FAILURE and writer.failure.code == "DiskFull"
        assert "no space left" in writer.failure.message and "\n" not in writer.failure.message
        backend.add_tasks("job", [TaskSpec("after", "/bin/true")])
        after = finished_tasks(backend, "job")["after"]
        assert after.result == TaskResult.SUCCESS, after.failure  # it writes nothing: it runs
        assert settled_nodes(backend, "full", 1)[0].state == NodeState.IDLE
    finally:
        subprocess.run(["umount", "-l", str(workitems)], check=False)


def test_an_image_that_node_prep_rejects_fails_the_start_task_with_the_rules(
        backend, pool_files, tmp_path: Path) -> None:
    no_ssh = build_ubuntu_vhd(tmp_path / "nossh", lambda root: remove(root, "/usr/sbin/sshd"))
    uri = pool_files.upload(no_ssh, "nossh.vhd")
    backend.add_pool(pool_files.spec("rejected", [uri], dedicated=1))
    node = settled_nodes(backend, "rejected", 1)[0]
    assert node.state == NodeState.START_TASK_FAILED
    info = node.start_task
    assert info.exit_code == 1 and info.result == TaskResult.FAILURE
    rules = {r.id: r for r in info.failed_rules}
    assert "ssh.installed" in rules and rules["ssh.installed"].fix and rules["ssh.installed"].message
    assert "ssh.installed" in info.failure.message and "\n" not in info.failure.message
    stderr = backend.read_node_file("rejected", node.id, "startup/stderr.txt").decode()
    assert "ssh.installed: " in stderr
    backend.add_job(JobSpec("job", "rejected", tasks=(TaskSpec("t1", "/bin/true"),)))
    backend.wait_for_requests("rejected")
    assert backend.get_task("job", "t1").state == TaskState.ACTIVE  # no node takes it


def test_a_hung_supervisor_is_killed_and_replaced(backend, pool_files, image) -> None:
    from shipyard.pools.local import launch, procs

    backend.add_pool(pool_files.spec("hung", [image], dedicated=0))
    old = backend.supervisor_pid("hung")
    started = procs.start_time(old)
    os.kill(old, signal.SIGSTOP)  # it holds the lock but does nothing: its heartbeat goes stale
    with backend.db.write() as conn:
        conn.execute("UPDATE pools SET heartbeat = heartbeat - ? WHERE id = 'hung'", (launch.HUNG_S + 1,))
    new = backend.supervisor_pid("hung")
    assert new and new != old and not procs.alive((old, started))
    wait_until(lambda: backend.get_pool("hung").allocation_state == "steady", "the new supervisor at work")
