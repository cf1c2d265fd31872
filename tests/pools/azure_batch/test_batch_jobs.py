"""The Batch emulator's jobs and tasks: real commands, retries, dependencies, slots, multi-instance,
wall clock, terminate, delete and task files, driven only through the real ``BatchClient``."""

from __future__ import annotations

import datetime

import pytest
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from fixtures.batch_client import POLL, read, ready_pool, until


def job(client, job_id: str, pool_id: str, **extra) -> None:
    client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id), **extra))


def task(task_id: str, command_line: str, **extra) -> m.BatchTaskCreateOptions:
    return m.BatchTaskCreateOptions(id=task_id, command_line=command_line, **extra)


def completed(client, job_id: str, task_id: str) -> m.BatchTask | None:
    found = client.get_task(job_id, task_id)
    return found if found.state == "completed" else None


def test_tasks_run_real_commands_with_retries_and_dependencies(batch) -> None:
    _, service, client = batch
    ready_pool(client, "p", 2)
    job(client, "j", "p", uses_task_dependencies=True)
    client.create_task("j", task("echo", "/bin/sh -c 'echo $AZ_BATCH_JOB_ID/$AZ_BATCH_TASK_ID in $PWD; echo out > made.txt'"))
    client.create_task("j", task("fail", "/bin/sh -c 'echo try >&2; exit 3'",
                                 constraints=m.BatchTaskConstraints(max_task_retry_count=2)))
    after_ok = task("after-ok", "/bin/echo after", depends_on=m.BatchTaskDependencies(task_ids=["echo"]))
    after_fail = task("after-fail", "/bin/echo never", depends_on=m.BatchTaskDependencies(task_ids=["fail"]))
    result = client.create_tasks("j", [after_ok, after_fail])
    assert sorted(r.task_id for r in result.result_values) == ["after-fail", "after-ok"]
    assert {r.status for r in result.result_values} == {"success"}

    echo = until(lambda: completed(client, "j", "echo"), "the echo task")
    info = echo.execution_info
    assert (info.exit_code, info.result, info.retry_count, info.failure_info) == (0, "success", 0, None)
    wd = service.root / "p" / echo.node_info.node_id / "workitems" / "j" / "job-1" / "echo" / "wd"
    assert read(client.download_task_file("j", "echo", "stdout.txt")) == f"j/echo in {wd}\n"
    assert read(client.download_task_file("j", "echo", "wd/made.txt")) == "out\n"
    names = {f.name for f in client.list_task_files("j", "echo", recursive=True)}
    assert {"stdout.txt", "stderr.txt", "wd", "wd/made.txt"} <= names
    assert echo.node_info.pool_id == "p" and echo.node_info.task_root_directory == "workitems/j/job-1/echo"

    fail = until(lambda: completed(client, "j", "fail"), "the failing task")
    assert (fail.execution_info.exit_code, fail.execution_info.result, fail.execution_info.retry_count) == (3, "failure", 2)
    assert fail.execution_info.failure_info.code == "FailureExitCode"
    assert read(client.download_task_file("j", "fail", "stderr.txt")) == "try\n" * 3

    assert until(lambda: completed(client, "j", "after-ok"), "the task after echo").execution_info.exit_code == 0
    assert client.get_task("j", "after-fail").state == "active"  # a failed dependency blocks it for ever
    counts = client.get_job_task_counts("j").task_counts
    assert (counts.completed, counts.succeeded, counts.failed, counts.active) == (3, 2, 1, 1)


def test_task_errors_and_collections(batch) -> None:
    _, _, client = batch
    job(client, "orphan", "no-such-pool")  # the service accepts it: its tasks wait
    client.create_task("orphan", task("waits", "/bin/true"))
    assert client.get_task("orphan", "waits").state == "active"
    with pytest.raises(ResourceExistsError) as dup:
        client.create_task("orphan", task("waits", "/bin/true"))
    assert dup.value.error.code == "TaskExists"
    with pytest.raises(ResourceExistsError) as dup_job:
        job(client, "orphan", "p")
    assert dup_job.value.error.code == "JobExists"
    with pytest.raises(HttpResponseError) as deps:
        client.create_task("orphan", task("d", "/bin/true", depends_on=m.BatchTaskDependencies(task_ids=["waits"])))
    assert deps.value.status_code == 400 and deps.value.error.code == "TaskDependenciesNotSpecifiedOnJob"
    with pytest.raises(ResourceNotFoundError) as missing:
        client.get_task("orphan", "nope")
    assert missing.value.error.code == "TaskNotFound"

    group = m.BatchTaskGroup(task_values=[task("waits", "/bin/true"), task("new", "/bin/true")])
    results = {r.task_id: r for r in client.create_task_collection("orphan", group).result_values}
    assert results["new"].status == "success"
    assert results["waits"].status == "clienterror" and results["waits"].error.code == "TaskExists"
    too_many = m.BatchTaskGroup(task_values=[task(f"t{i}", "/bin/true") for i in range(101)])
    with pytest.raises(HttpResponseError) as big:
        client.create_task_collection("orphan", too_many)
    assert big.value.status_code == 400
    added = client.create_tasks("orphan", [task(f"many{i}", "/bin/true") for i in range(150)])
    assert len(added.result_values) == 150 and len(list(client.list_tasks("orphan"))) == 152

    client.begin_terminate_job("orphan", {"terminateReason": "done here"}, polling_interval=POLL).result()
    ended = client.get_job("orphan")
    assert ended.state == "completed" and ended.execution_info.termination_reason == "done here"
    with pytest.raises(ResourceExistsError) as closed:
        client.create_task("orphan", task("late", "/bin/true"))
    assert closed.value.error.code == "JobCompleted"


def test_slots_fill_and_parallel_tasks(batch) -> None:
    _, service, client = batch
    ready_pool(client, "s", 2, task_slots_per_node=2,
               task_scheduling_policy=m.BatchTaskSchedulingPolicy(node_fill_type="pack"))
    job(client, "sj", "s")
    gate = "/bin/sh -c 'while [ ! -e $AZ_BATCH_NODE_SHARED_DIR/../../go ]; do sleep 0.02; done'"

    def all_running() -> dict[str, m.BatchTask] | None:
        tasks = {t.id: t for t in client.list_tasks("sj")}
        return tasks if all(t.state == "running" for t in tasks.values()) else None

    client.create_tasks("sj", [task("a", gate), task("b", gate)])
    packed = until(all_running, "two tasks packed on one node")
    assert packed["a"].node_info.node_id == packed["b"].node_info.node_id  # spread would take both nodes
    client.create_task("sj", task("c", gate, required_slots=2))
    running = until(all_running, "the two-slot task on the other node")
    assert running["c"].node_info.node_id != running["a"].node_info.node_id
    busy = client.get_node("s", running["a"].node_info.node_id)
    assert (busy.state, busy.running_tasks_count, busy.running_task_slots_count) == ("running", 2, 2)
    assert client.get_node("s", running["c"].node_info.node_id).running_task_slots_count == 2
    (service.root / "s" / "go").touch()
    until(lambda: all(t.state == "completed" for t in client.list_tasks("sj")), "every task done")
    assert sorted(n.total_tasks_run for n in client.list_nodes("s")) == [1, 2]


def test_multi_instance_task_runs_coordination_everywhere(batch) -> None:
    _, service, client = batch
    nodes = ready_pool(client, "mi", 3)
    job(client, "mj", "mi")
    settings = m.MultiInstanceSettings(number_of_instances=3, coordination_command_line=(
        "/bin/sh -c 'echo $AZ_BATCH_IS_CURRENT_NODE_MASTER > $AZ_BATCH_NODE_SHARED_DIR/coordinated'"))
    client.create_task("mj", task("mpi", "/bin/sh -c 'echo hosts=$AZ_BATCH_HOST_LIST'", multi_instance_settings=settings))
    done = until(lambda: completed(client, "mj", "mpi"), "the multi-instance task")
    assert done.execution_info.exit_code == 0
    ips = {n.ip_address for n in nodes}
    hosts = read(client.download_task_file("mj", "mpi", "stdout.txt")).strip().removeprefix("hosts=").split(",")
    assert set(hosts) == ips and len(hosts) == 3
    flags = sorted((service.root / "mi" / n.id / "shared" / "coordinated").read_text() for n in nodes)
    assert flags == ["false\n", "false\n", "true\n"]
    subtasks = list(client.list_subtasks("mj", "mpi"))
    assert [s.id for s in subtasks] == [1, 2] and {s.state for s in subtasks} == {"completed"}
    assert {s.node_info.node_id for s in subtasks} | {done.node_info.node_id} == {n.id for n in nodes}


def test_terminate_wall_clock_and_job_delete(batch) -> None:
    _, service, client = batch
    ready_pool(client, "t", 3)
    job(client, "tj", "t")
    client.create_task("tj", task("long", "/bin/sleep 300"))
    client.create_task("tj", task("short", "/bin/sleep 300",
                                  constraints=m.BatchTaskConstraints(max_wall_clock_time=datetime.timedelta(seconds=0.5))))
    until(lambda: client.get_task("tj", "long").state == "running", "the long task running")
    client.terminate_task("tj", "long")
    ended = until(lambda: completed(client, "tj", "long"), "the terminated task")
    assert ended.execution_info.failure_info.code == "TaskEnded" and ended.execution_info.result == "failure"
    timed_out = until(lambda: completed(client, "tj", "short"), "the task past its wall clock time")
    assert timed_out.execution_info.failure_info.code == "TaskEnded"
    with pytest.raises(ResourceExistsError) as again:
        client.terminate_task("tj", "long")
    assert again.value.error.code == "TaskCompleted"

    client.create_task("tj", task("killed", "/bin/sleep 300"))
    node = until(lambda: (t := client.get_task("tj", "killed")).state == "running" and t.node_info.node_id, "a running task")
    client.begin_delete_job("tj", polling_interval=POLL).result()
    with pytest.raises(ResourceNotFoundError) as gone:
        client.get_job("tj")
    assert gone.value.error.code == "JobNotFound"
    assert not (service.root / "t" / node / "workitems" / "tj").exists() and not service.processes.live


def test_removed_node_requeues_its_task(batch) -> None:
    _, _, client = batch
    ready_pool(client, "rq", 2)
    job(client, "rj", "rq")
    client.create_task("rj", task("moved", "/bin/sh -c 'echo $AZ_BATCH_NODE_ID; [ -e $AZ_BATCH_NODE_SHARED_DIR/../../../moved ] || "
                                           "{ touch $AZ_BATCH_NODE_SHARED_DIR/../../../moved; sleep 300; }'"))
    first = until(lambda: (t := client.get_task("rj", "moved")).state == "running" and t.node_info.node_id, "the task running")
    client.begin_remove_nodes("rq", m.BatchNodeRemoveOptions(node_ids=[first]), polling_interval=POLL).result()
    done = until(lambda: completed(client, "rj", "moved"), "the requeued task")
    info = done.execution_info
    assert (info.exit_code, info.requeue_count, info.retry_count) == (0, 1, 0) and done.node_info.node_id != first
