"""What runs next: priority first, equal priorities in turn, dependencies; pack and spread."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.pools import finished_tasks, idle_nodes, task_in_state
from shipyard.pools.local.scheduler import COMPLETED, FAILURE, SUCCESS, JobRun, Scheduler, TaskRun
from shipyard.pools.models import JobSpec, TaskSpec, TaskState


def scheduler_with(*jobs: tuple[str, int, int]) -> Scheduler:
    """Jobs ``(id, priority, task count)``, their tasks ``<job>-<n>``."""
    sched = Scheduler()
    seq = 0
    for job_id, priority, count in jobs:
        job = JobRun(job_id, priority, "active", {})
        sched.add_job(job)
        for n in range(count):
            seq += 1
            sched.add_task(TaskRun(seq, job, f"{job_id}-{n}", {"command_line": "/bin/true"}))
    return sched


def drain(sched: Scheduler) -> list[str]:
    order = []
    while (task := sched.next_task()) is not None:
        order.append(task.id)
    return order


def test_higher_priority_first_and_equal_priorities_take_turns() -> None:
    sched = scheduler_with(("low", 0, 2), ("a", 5, 3), ("high", 9, 2), ("b", 5, 2))
    assert drain(sched) == ["high-0", "high-1", "a-0", "b-0", "a-1", "b-1", "a-2", "low-0", "low-1"]
    assert sched.ready_count == 0


def test_a_retry_goes_to_the_front_of_its_job() -> None:
    sched = scheduler_with(("a", 0, 3))
    first = sched.next_task()
    assert first is not None
    sched.push_ready(first, front=True)
    assert drain(sched) == ["a-0", "a-1", "a-2"]


def test_dependencies_release_on_success_and_block_on_failure_transitively() -> None:
    sched = Scheduler()
    job = JobRun("j", 0, "active", {})
    sched.add_job(job)
    tasks = {}
    for seq, (task_id, deps) in enumerate([("late", ("root",)), ("root", ()), ("other", ()),
                                           ("child", ("other",)), ("grandchild", ("child",))], 1):
        tasks[task_id] = TaskRun(seq, job, task_id, {"depends_on": list(deps)})
        sched.add_task(tasks[task_id])
    assert drain(sched) == ["root", "other"]
    tasks["root"].state, tasks["root"].result = COMPLETED, SUCCESS
    sched.succeeded(tasks["root"])
    tasks["other"].state, tasks["other"].result = COMPLETED, FAILURE
    sched.failed(tasks["other"])
    assert drain(sched) == ["late"]
    assert tasks["child"].blocked_by == ["other"] and tasks["grandchild"].blocked_by == ["child"]
    assert not tasks["child"].queued and not tasks["grandchild"].queued


def test_tasks_loaded_after_their_dependants_settle_them() -> None:
    sched = Scheduler()
    job = JobRun("j", 0, "active", {})
    sched.add_job(job)
    waiting = TaskRun(1, job, "waiting", {"depends_on": ["done-ok"]})
    blocked = TaskRun(2, job, "blocked", {"depends_on": ["done-bad"]})
    sched.add_task(waiting)
    sched.add_task(blocked)
    sched.add_task(TaskRun(3, job, "done-ok", {}, state=COMPLETED, result=SUCCESS))
    sched.add_task(TaskRun(4, job, "done-bad", {}, state=COMPLETED, result=FAILURE))
    assert drain(sched) == ["waiting"] and blocked.blocked_by == ["done-bad"]


def test_one_slot_serves_jobs_by_priority_then_in_turn(backend, pool_files, ubuntu_vhd, tmp_path: Path) -> None:
    backend.add_pool(pool_files.spec("fair", [pool_files.upload(ubuntu_vhd)], dedicated=1))
    idle_nodes(backend, "fair", 1)
    gate = tmp_path / "open"
    backend.add_job(JobSpec("gate", "fair", priority=100, tasks=(
        TaskSpec("wait", f"/bin/sh -c 'while [ ! -e {gate} ]; do sleep 0.02; done'"),)))
    task_in_state(backend, "gate", "wait", TaskState.RUNNING)  # the one slot is taken: the rest queues
    for job_id, priority, count in (("low", -5, 2), ("a", 5, 3), ("high", 9, 2), ("b", 5, 2)):
        backend.add_job(JobSpec(job_id, "fair", priority=priority, tasks=tuple(
            TaskSpec(f"{job_id}-{n}", "/bin/true") for n in range(count))))
    backend.wait_for_requests("fair")
    gate.touch()
    started = []
    for job_id in ("low", "a", "high", "b"):
        started += [(t.start_time, t.id) for t in finished_tasks(backend, job_id).values()]
    assert [task_id for _, task_id in sorted(started)] == ["high-0", "high-1", "a-0", "b-0", "a-1", "b-1", "a-2",
                                                           "low-0", "low-1"]


@pytest.mark.parametrize(("fill", "same_node"), [("pack", True), ("spread", False)])
def test_pack_fills_a_node_first_and_spread_the_least_loaded(backend, pool_files, ubuntu_vhd, fill, same_node) -> None:
    backend.add_pool(pool_files.spec(f"fill-{fill}", [pool_files.upload(ubuntu_vhd)], dedicated=2, slots=2,
                                     fill=fill))
    idle_nodes(backend, f"fill-{fill}", 2)
    backend.add_job(JobSpec("job", f"fill-{fill}", tasks=(TaskSpec("x", "/bin/sleep 300"),
                                                         TaskSpec("y", "/bin/sleep 300"))))
    x = task_in_state(backend, "job", "x", TaskState.RUNNING)
    y = task_in_state(backend, "job", "y", TaskState.RUNNING)
    assert (x.node_id == y.node_id) is same_node
    backend.terminate_job("job")


def test_each_try_gets_its_whole_wall_time(backend, pool_files, ubuntu_vhd, tmp_path: Path) -> None:
    from shipyard.pools.models import TaskResult

    backend.add_pool(pool_files.spec("tries", [pool_files.upload(ubuntu_vhd)], dedicated=1))
    idle_nodes(backend, "tries", 1)
    tries = tmp_path / "tries"
    # the first try fails after 2 s; the second, on the same node, succeeds after 2.5 s: well within
    # its own 4 s, though past what was left of the first try's
    script = (f"echo x >> {tries}; if [ $(wc -l < {tries}) -eq 1 ]; then sleep 2; exit 1; fi; sleep 2.5")
    backend.add_job(JobSpec("job", "tries", tasks=(TaskSpec("t1", f"/bin/sh -c '{script}'", max_wall_time_s=4,
                                                            max_task_retries=1),)))
    task = finished_tasks(backend, "job")["t1"]
    assert (task.result, task.retry_count) == (TaskResult.SUCCESS, 1), task.failure
