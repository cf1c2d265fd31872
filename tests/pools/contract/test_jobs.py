"""The contract for jobs and tasks: add, list, get, terminate, delete; results; the error types."""

from __future__ import annotations

import pytest

from fixtures.pools import finished_tasks, idle_nodes, task_in_state, wait_until
from shipyard.errors import BackendError, ConflictError, NotFoundError
from shipyard.pools.models import JobSpec, JobState, TaskResult, TaskSpec, TaskState


@pytest.fixture
def pool(harness):
    harness.backend.add_pool(harness.spec("jobs-pool", dedicated=1, slots=2))
    idle_nodes(harness.backend, "jobs-pool", 1)
    return "jobs-pool"


def test_a_job_runs_its_tasks_and_reports_them(harness, pool) -> None:
    backend = harness.backend
    job = backend.add_job(JobSpec("job-1", pool, tasks=(TaskSpec("ok", "/bin/true"),
                                                        TaskSpec("three", "/bin/sh -c 'exit 3'"))))
    assert (job.id, job.pool_id, job.state) == ("job-1", pool, JobState.ACTIVE)
    added = backend.add_tasks("job-1", [TaskSpec("echo", "/bin/echo hello")])
    assert [(t.id, t.state) for t in added] == [("echo", TaskState.ACTIVE)]
    tasks = finished_tasks(backend, "job-1")
    assert set(tasks) == {"ok", "three", "echo"}
    assert (tasks["ok"].exit_code, tasks["ok"].result, tasks["ok"].failure) == (0, TaskResult.SUCCESS, None)
    three = tasks["three"]
    assert (three.exit_code, three.result, three.failure.code) == (3, TaskResult.FAILURE, "FailureExitCode")
    assert all(t.node_id and t.start_time and t.end_time and t.start_time <= t.end_time for t in tasks.values())
    assert backend.get_task("job-1", "echo") == tasks["echo"]
    assert [j.id for j in backend.list_jobs()] == ["job-1"]
    assert dict(backend.get_job("job-1").task_counts)[TaskState.COMPLETED] == 3


def test_job_and_task_errors_are_typed(harness, pool) -> None:
    backend = harness.backend
    with pytest.raises(NotFoundError, match="no-pool"):
        backend.add_job(JobSpec("job-x", "no-pool"))
    backend.add_job(JobSpec("job-2", pool, tasks=(TaskSpec("a", "/bin/true"),)))
    with pytest.raises(ConflictError, match="job-2"):
        backend.add_job(JobSpec("job-2", pool))
    with pytest.raises(ConflictError, match="a"):
        backend.add_tasks("job-2", [TaskSpec("b", "/bin/true"), TaskSpec("a", "/bin/true")])
    with pytest.raises(ConflictError):
        backend.add_tasks("job-2", [TaskSpec("c", "/bin/true"), TaskSpec("c", "/bin/true")])
    assert [t.id for t in backend.list_tasks("job-2")] == ["a"]  # all or nothing
    for call in (lambda: backend.get_job("nope"), lambda: backend.list_tasks("nope"),
                 lambda: backend.add_tasks("nope", [TaskSpec("t", "/bin/true")]),
                 lambda: backend.get_task("job-2", "nope"), lambda: backend.terminate_task("job-2", "nope"),
                 lambda: backend.terminate_job("nope"), lambda: backend.delete_job("nope")):
        with pytest.raises(NotFoundError) as caught:
            call()
        assert isinstance(caught.value, BackendError) and "\n" not in str(caught.value)


def test_a_running_task_is_terminated(harness, pool) -> None:
    backend = harness.backend
    backend.add_job(JobSpec("job-3", pool, tasks=(TaskSpec("long", "/bin/sleep 300"),)))
    task_in_state(backend, "job-3", "long", TaskState.RUNNING)
    backend.terminate_task("job-3", "long")
    done = task_in_state(backend, "job-3", "long", TaskState.COMPLETED)
    assert done.result == TaskResult.FAILURE and done.failure.code == "TaskEnded"


def test_a_terminated_job_completes_and_takes_no_more_tasks(harness, pool) -> None:
    backend = harness.backend
    backend.add_job(JobSpec("job-4", pool, tasks=(TaskSpec("long", "/bin/sleep 300"),
                                                  TaskSpec("later", "/bin/sleep 300", depends_on=("long",)))))
    task_in_state(backend, "job-4", "long", TaskState.RUNNING)
    backend.terminate_job("job-4")
    wait_until(lambda: backend.get_job("job-4").state == JobState.COMPLETED, "the job to complete")
    tasks = {t.id: t for t in backend.list_tasks("job-4")}
    assert tasks["long"].state == TaskState.COMPLETED and tasks["long"].failure.code == "TaskEnded"
    # the task that waited never runs (whether it then shows as active or completed is the backend's)
    assert tasks["later"].start_time is None and tasks["later"].node_id is None
    with pytest.raises(ConflictError):
        backend.add_tasks("job-4", [TaskSpec("more", "/bin/true")])


def test_a_deleted_job_is_gone(harness, pool) -> None:
    backend = harness.backend
    backend.add_job(JobSpec("job-5", pool, tasks=(TaskSpec("long", "/bin/sleep 300"),)))
    task_in_state(backend, "job-5", "long", TaskState.RUNNING)
    backend.delete_job("job-5")
    wait_until(lambda: "job-5" not in {j.id for j in backend.list_jobs()}, "the job to go")
    with pytest.raises(NotFoundError):
        backend.get_job("job-5")
    backend.add_job(JobSpec("job-5", pool))  # the id is free again


def test_jobs_added_after_the_newest_job_was_deleted_run(harness, pool) -> None:
    """A deleted job's tasks were the newest: the next job's must still be seen and run."""
    backend = harness.backend
    backend.add_job(JobSpec("first", pool, tasks=(TaskSpec("long", "/bin/sleep 300"),)))
    task_in_state(backend, "first", "long", TaskState.RUNNING)
    backend.delete_job("first")
    backend.add_job(JobSpec("second", pool, tasks=(TaskSpec("t", "/bin/true"),)))
    backend.add_tasks("second", [TaskSpec("more", "/bin/true")])
    tasks = finished_tasks(backend, "second")
    assert {t.id: t.result for t in tasks.values()} == {"t": TaskResult.SUCCESS, "more": TaskResult.SUCCESS}


def test_the_command_line_runs_without_a_shell(harness, pool) -> None:
    backend = harness.backend
    backend.add_job(JobSpec("job-6", pool, tasks=(TaskSpec("literal", "/bin/echo $HOME 'a  b'"),
                                                  TaskSpec("shell", "/bin/sh -c 'echo $AZ_BATCH_TASK_ID'"))))
    finished_tasks(backend, "job-6")
    assert backend.read_task_file("job-6", "literal", "stdout.txt") == b"$HOME a  b\n"
    assert backend.read_task_file("job-6", "shell", "stdout.txt") == b"shell\n"
