"""How the local backend runs a task: Batch's environment and layout, no shell, process groups,
wall time, retries, dependencies, resource files, containers, exit conditions."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from fixtures.pools import finished_tasks, task_in_state, task_processes, wait_until
from shipyard.errors import BackendError
from shipyard.pools.models import (
    Container,
    JobSpec,
    JobState,
    OutputFile,
    ResourceFile,
    TaskResult,
    TaskSpec,
    TaskState,
)


def run_job(backend, pool: str, job_id: str, *tasks: TaskSpec, **job: object):
    backend.add_job(JobSpec(job_id, pool, tasks=tasks, **job))  # type: ignore[arg-type]
    return finished_tasks(backend, job_id)


def test_a_task_gets_batch_variables_its_directory_and_its_environment(shared_pool) -> None:
    backend, pool, home = shared_pool
    script = "echo $AZ_BATCH_JOB_ID $AZ_BATCH_TASK_ID $AZ_BATCH_POOL_ID; echo $AZ_BATCH_TASK_DIR; " \
             "echo $AZ_BATCH_TASK_WORKING_DIR; pwd; echo $AZ_BATCH_NODE_ROOT_DIR $AZ_BATCH_NODE_IS_DEDICATED; " \
             "echo $FROM_JOB $BOTH"
    tasks = run_job(backend, pool, "env-job", TaskSpec("t1", f"/bin/sh -c '{script}'",
                                                        environment=(("BOTH", "task"),)),
                    environment=(("FROM_JOB", "job"), ("BOTH", "job")))
    node_root = home / "local" / "pools" / pool / tasks["t1"].node_id
    task_dir = node_root / "workitems" / "env-job" / "job-1" / "t1"
    lines = backend.read_task_file("env-job", "t1", "stdout.txt").decode().splitlines()
    assert lines == ["env-job t1 shared", str(task_dir), str(task_dir / "wd"), str(task_dir / "wd"),
                     f"{node_root} true", "job task"]


def test_a_missing_program_fails_the_task_in_one_line(shared_pool) -> None:
    backend, pool, _ = shared_pool
    task = run_job(backend, pool, "missing-job", TaskSpec("t1", "no-such-program --flag"))["t1"]
    assert (task.state, task.result, task.exit_code) == (TaskState.COMPLETED, TaskResult.FAILURE, None)
    assert task.failure.code == "CommandProgramNotFound"
    assert "'no-such-program'" in task.failure.message and "\n" not in task.failure.message
    assert task.retry_count == 0


def test_non_zero_exits_use_the_retries(shared_pool, tmp_path: Path) -> None:
    backend, pool, _ = shared_pool
    runs, flaky = tmp_path / "runs", tmp_path / "flaky"
    tasks = run_job(backend, pool, "retry-job",
                    TaskSpec("always", f"/bin/sh -c 'echo run >> {runs}; exit 4'", max_task_retries=2),
                    TaskSpec("once", f"/bin/sh -c 'echo run >> {flaky}; test $(wc -l < {flaky}) -ge 2'",
                             max_task_retries=3))
    always, once = tasks["always"], tasks["once"]
    assert (always.result, always.exit_code, always.retry_count, always.requeue_count) == (TaskResult.FAILURE, 4, 2, 0)
    assert runs.read_text().count("run") == 3
    assert (once.result, once.retry_count) == (TaskResult.SUCCESS, 1)


def test_the_wall_time_kills_the_whole_group(shared_pool) -> None:
    backend, pool, _ = shared_pool
    task = run_job(backend, pool, "wall-job", TaskSpec("t1", "/bin/sh -c 'sleep 300 & sleep 300'",
                                                       max_wall_time_s=1, max_task_retries=3))["t1"]
    assert task.result == TaskResult.FAILURE and task.failure.code == "MaxWallClockTimeExpiry"
    assert task.retry_count == 0  # a wall-time kill is no retry
    wait_until(lambda: not task_processes("wall-job", "t1"), "the task's processes to be gone")


def test_what_a_task_leaves_running_is_stopped_with_it(shared_pool) -> None:
    backend, pool, _ = shared_pool
    task = run_job(backend, pool, "orphan-job", TaskSpec("t1", "/bin/sh -c 'sleep 300 & echo left'"))["t1"]
    assert task.result == TaskResult.SUCCESS
    wait_until(lambda: not task_processes("orphan-job", "t1"), "the background sleep to be gone")


def test_a_failed_dependency_blocks_its_dependants(shared_pool) -> None:
    backend, pool, _ = shared_pool
    tasks = run_job(backend, pool, "deps-job",
                    TaskSpec("b", "/bin/true", depends_on=("a",)),
                    TaskSpec("a", "/bin/false"),
                    TaskSpec("c", "/bin/true", depends_on=("b",)),
                    TaskSpec("d", "/bin/true"),
                    TaskSpec("e", "/bin/true", depends_on=("d",)))
    assert tasks["a"].result == TaskResult.FAILURE
    assert (tasks["b"].state, tasks["b"].blocked_by) == (TaskState.ACTIVE, ("a",))
    assert (tasks["c"].state, tasks["c"].blocked_by) == (TaskState.ACTIVE, ("b",))
    assert tasks["e"].result == TaskResult.SUCCESS and tasks["e"].start_time >= tasks["d"].end_time
    backend.add_tasks("deps-job", [TaskSpec("f", "/bin/true", depends_on=("a",))])  # added later: blocked too
    assert wait_until(lambda: backend.get_task("deps-job", "f").blocked_by, "f to be blocked") == ("a",)


def test_exit_job_on_failure_terminates_the_job(shared_pool) -> None:
    backend, pool, _ = shared_pool
    backend.add_job(JobSpec("exit-job", pool, tasks=(TaskSpec("long", "/bin/sleep 300"),)))
    task_in_state(backend, "exit-job", "long", TaskState.RUNNING)
    backend.add_tasks("exit-job", [TaskSpec("bad", "/bin/false", exit_job_on_failure=True)])
    wait_until(lambda: backend.get_job("exit-job").state == JobState.COMPLETED, "the job to be terminated")
    long = backend.get_task("exit-job", "long")
    assert long.result == TaskResult.FAILURE and long.failure.code == "TaskEnded"


def test_resource_files_are_copied_in_first(shared_pool, tmp_path: Path) -> None:
    backend, pool, home = shared_pool
    source = tmp_path / "input.txt"
    source.write_text("from a local path\n")
    from fixtures.pools import ACCOUNT
    from shipyard.storage.local import LocalPageBlobStore

    store = LocalPageBlobStore(ACCOUNT, home / "storage")
    store.ensure_container("inputs")
    store.create_page_blob("inputs", "page.bin", 512)
    store.put_pages("inputs", "page.bin", 0, b"B" * 512)
    tasks = run_job(backend, pool, "rf-job", TaskSpec("t1", "/bin/sh -c 'cat sub/in.txt; wc -c < page.bin'",
                                                       resource_files=(
                                                           ResourceFile("sub/in.txt", local_path=str(source)),
                                                           ResourceFile("page.bin", blob_uri=store.blob_uri(
                                                               "inputs", "page.bin")))))
    assert tasks["t1"].result == TaskResult.SUCCESS, tasks["t1"].failure
    assert backend.read_task_file("rf-job", "t1", "stdout.txt") == b"from a local path\n512\n"
    bad = run_job(backend, pool, "rf-bad", TaskSpec("t1", "/bin/true", resource_files=(
        ResourceFile("x", local_path=str(tmp_path / "absent")),)))["t1"]
    assert bad.failure.code == "ResourceFileDownloadError" and "\n" not in bad.failure.message


def _docker_answers() -> bool:
    from shipyard.pools.local.runner import _docker_ping

    return _docker_ping()


def _singularity_answers() -> bool:
    program = shutil.which("singularity")
    return bool(program) and subprocess.run([program, "--version"], capture_output=True, check=False).returncode == 0


@pytest.mark.parametrize(("runtime", "answers"), [("docker", _docker_answers), ("singularity", _singularity_answers)])
def test_a_container_task_never_runs_without_its_runtime(shared_pool, runtime, answers, tmp_path: Path) -> None:
    if answers():
        pytest.skip(f"{runtime} answers on this machine: the missing-runtime failure cannot be shown")
    backend, pool, _ = shared_pool
    marker = tmp_path / "ran"
    task = run_job(backend, pool, f"{runtime}-job", TaskSpec("t1", f"/bin/touch {marker}",
                                                             container=Container(runtime, "busybox:latest")))["t1"]
    assert task.result == TaskResult.FAILURE and task.failure.code == "ContainerRuntimeUnavailable"
    assert runtime in task.failure.message and "busybox:latest" in task.failure.message
    assert "\n" not in task.failure.message and not marker.exists()


def test_what_the_local_backend_cannot_do_is_refused_up_front(shared_pool) -> None:
    backend, pool, _ = shared_pool
    backend.add_job(JobSpec("refused", pool))
    with pytest.raises(BackendError, match=r"output_files: file pattern '\.\./x' must be relative"):
        backend.add_tasks("refused", [TaskSpec("t1", "/bin/true", output_files=(OutputFile("../x", "out", "sa"),))])
    with pytest.raises(BackendError, match="cycle: x -> y -> x"):
        backend.add_tasks("refused", [TaskSpec("x", "/bin/true", depends_on=("y",)),
                                      TaskSpec("y", "/bin/true", depends_on=("x",))])
    with pytest.raises(BackendError, match="not valid"):
        backend.add_tasks("refused", [TaskSpec("../escape", "/bin/true")])
    assert backend.list_tasks("refused") == []
