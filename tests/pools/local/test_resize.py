"""Nodes leaving with running tasks, per task action: requeue, terminate, taskcompletion."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.pools import finished_tasks, idle_nodes, task_in_state, wait_until
from shipyard.pools.local.backend import LocalBackend
from shipyard.pools.models import JobSpec, TaskAction, TaskResult, TaskSpec, TaskState


@pytest.fixture
def pool(home: Path, pool_files, ubuntu_vhd):
    backend = LocalBackend(str(home))
    backend.add_pool(pool_files.spec("shrink", [pool_files.upload(ubuntu_vhd)], dedicated=2))
    idle_nodes(backend, "shrink", 2)
    yield backend
    backend.delete_pool("shrink")
    backend.close()


def test_a_removed_nodes_task_is_requeued_onto_another_node(pool) -> None:
    pool.add_job(JobSpec("job", "shrink", tasks=(TaskSpec("t1", "/bin/sleep 300"),)))
    first = task_in_state(pool, "job", "t1", TaskState.RUNNING)
    pool.delete_nodes("shrink", [first.node_id], task_action=TaskAction.REQUEUE)

    def moved():
        task = pool.get_task("job", "t1")
        return task if task.state == TaskState.RUNNING and task.node_id != first.node_id else None

    task = wait_until(moved, "the task to run on the other node")
    assert (task.requeue_count, task.retry_count) == (1, 0)
    assert [n.id for n in idle_nodes_or_running(pool)] == [task.node_id]
    pool.terminate_task("job", "t1")


def idle_nodes_or_running(backend):
    def one_left():
        nodes = backend.list_nodes("shrink")
        return nodes if len(nodes) == 1 else None

    return wait_until(one_left, "one node left")


def test_terminate_ends_the_running_tasks_of_the_nodes_that_leave(pool) -> None:
    pool.add_job(JobSpec("job", "shrink", tasks=(TaskSpec("a", "/bin/sleep 300"), TaskSpec("b", "/bin/sleep 300"))))
    a = task_in_state(pool, "job", "a", TaskState.RUNNING)
    task_in_state(pool, "job", "b", TaskState.RUNNING)
    pool.resize_pool("shrink", 1, 0, task_action=TaskAction.TERMINATE)
    idle_nodes_or_running(pool)

    def one_ended():
        tasks = {t.id: t for t in pool.list_tasks("job")}
        ended = [t for t in tasks.values() if t.state == TaskState.COMPLETED]
        return ended if ended else None

    ended = wait_until(one_ended, "a task to end with its node")
    assert len(ended) == 1 and ended[0].failure.code == "TaskEnded" and ended[0].result == TaskResult.FAILURE
    assert "removed" in ended[0].failure.message
    assert a.node_id  # the other still runs
    pool.terminate_job("job")


def test_taskcompletion_lets_the_running_task_finish_first(pool, tmp_path: Path) -> None:
    gate = tmp_path / "open"
    pool.resize_pool("shrink", 1, 0)
    idle_nodes(pool, "shrink", 1)
    pool.add_job(JobSpec("job", "shrink", tasks=(
        TaskSpec("t1", f"/bin/sh -c 'while [ ! -e {gate} ]; do sleep 0.02; done'"),)))
    running = task_in_state(pool, "job", "t1", TaskState.RUNNING)
    pool.resize_pool("shrink", 0, 0, task_action=TaskAction.TASK_COMPLETION)
    leaving = wait_until(lambda: [n for n in pool.list_nodes("shrink") if n.state == "leavingpool"], "a leaving node")
    assert leaving[0].id == running.node_id
    gate.touch()
    assert finished_tasks(pool, "job")["t1"].result == TaskResult.SUCCESS
    wait_until(lambda: pool.list_nodes("shrink") == [], "the node to leave")
