"""Task output and retention on the local backend, with real processes: ``output_files`` uploaded
to the local store per condition, with Batch's blob names; an Azure link refused in one line; a
failing upload; a completed task's directory removed once its retention time has passed."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.pools import ACCOUNT, PoolFiles, finished_tasks, idle_nodes, wait_until
from shipyard.errors import BackendError, NotFoundError
from shipyard.pools.local.backend import LocalBackend
from shipyard.pools.models import JobSpec, NodeState, OutputFile, TaskResult, TaskSpec, TaskState, UploadCondition
from shipyard.storage.local import LocalPageBlobStore

AZURE_LINK = """\
azuresa:
  account: somewhere
  account_key: c29tZS1rZXktc29tZS1rZXktc29tZS1rZXktMDEyMzQ1Njc4OQ==
  endpoint: core.windows.net
"""
SUCCESS, FAILURE, COMPLETION = UploadCondition.TASK_SUCCESS, UploadCondition.TASK_FAILURE, UploadCondition.TASK_COMPLETION


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory, ubuntu_vhd: Path) -> Iterator[tuple[LocalBackend, str, Path]]:
    home = tmp_path_factory.mktemp("outputs") / "home"
    files = PoolFiles(home)
    backend = LocalBackend(str(home))
    backend.add_pool(files.spec("outputs", [files.upload(ubuntu_vhd)], dedicated=1, slots=2, links=AZURE_LINK))
    idle_nodes(backend, "outputs", 1)
    try:
        yield backend, "outputs", home
    finally:
        backend.delete_pool("outputs")
        backend.close()


def store_of(home: Path) -> LocalPageBlobStore:
    return LocalPageBlobStore(ACCOUNT, home / "storage")


def blobs(home: Path, container: str) -> dict[str, bytes]:
    store = store_of(home)
    found = {}
    for item in store.list_blobs(container):
        found[item.name] = store.read_range(container, item.name, 0, item.size_bytes)
    return found


def sh(script: str) -> str:
    return f"/bin/sh -c '{script}'"


def out(pattern: str, container: str, prefix: str = "", condition: UploadCondition = COMPLETION) -> OutputFile:
    return OutputFile(pattern, container, "localsa", prefix, condition)


def task_dir(home: Path, pool: str, node: str, job: str, task: str) -> Path:
    return home / "local" / "pools" / pool / node / "workitems" / job / "job-1" / task


def test_output_files_are_uploaded_with_batch_blob_names(pool) -> None:
    backend, pool_id, home = pool
    script = ("mkdir -p results/sub results/.cache && printf a > results/a.txt && printf b > results/sub/b.txt && "
              "printf h > results/.hidden.txt && printf c > results/.cache/c.txt && printf n > results/notes.md && "
              "printf log > run.log && echo done")
    outputs = (
        out("wd/results/**/*.txt", "out", "run1/"),  # wildcards: the path below the base, under the prefix
        out("wd/run.log", "out", "logs/"),  # one named file: its own name, under the prefix
        out("stdout.txt", "out"),  # no prefix: the container's root
        out("wd/results/.*.txt", "out", "dot/"),  # a dot file, matched by a pattern that says so
    )
    backend.add_job(JobSpec("upload-job", pool_id, tasks=(TaskSpec("t1", sh(script), output_files=outputs),)))
    task = finished_tasks(backend, "upload-job")["t1"]
    assert (task.result, task.exit_code, task.failure) == (TaskResult.SUCCESS, 0, None)
    assert blobs(home, "out") == {
        "run1/a.txt": b"a", "run1/sub/b.txt": b"b", "logs/run.log": b"log", "stdout.txt": b"done\n",
        "dot/.hidden.txt": b"h"}
    props = store_of(home).get_properties("out", "run1/sub/b.txt")
    assert props is not None and props.blob_type == "BlockBlob"
    listed = backend.read_task_file("upload-job", "t1", "fileuploadout.txt").decode().splitlines()
    assert sorted(listed) == sorted(f"uploaded local://{ACCOUNT}/out/{name}" for name in blobs(home, "out"))
    # Batch Shipyard's default include (**/* of the task directory) takes the task's whole directory
    backend.add_tasks("upload-job", [TaskSpec("t2", sh("printf x > x.bin"), output_files=(out("**/*", "all", "t2/"),))])
    assert finished_tasks(backend, "upload-job")["t2"].result == TaskResult.SUCCESS
    assert blobs(home, "all") == {"t2/stdout.txt": b"", "t2/stderr.txt": b"", "t2/wd/x.bin": b"x"}


def test_each_upload_condition(pool) -> None:
    backend, pool_id, home = pool

    def outputs(container: str) -> tuple[OutputFile, ...]:
        return (out("wd/*.txt", container, "success/", SUCCESS), out("wd/*.txt", container, "failure/", FAILURE),
                out("wd/*.txt", container, "completion/", COMPLETION))

    backend.add_job(JobSpec("conditions", pool_id, tasks=(
        TaskSpec("ok", sh("echo ok > f.txt"), output_files=outputs("ok")),
        TaskSpec("fails", sh("echo failed > f.txt; exit 3"), output_files=outputs("fails")),
        TaskSpec("timeout", sh("echo slow > f.txt; exec sleep 300"), max_wall_time_s=1, output_files=outputs("slow")),
    )))
    tasks = finished_tasks(backend, "conditions")
    assert tasks["ok"].result == TaskResult.SUCCESS
    assert blobs(home, "ok") == {"success/f.txt": b"ok\n", "completion/f.txt": b"ok\n"}
    assert (tasks["fails"].result, tasks["fails"].exit_code, tasks["fails"].failure.code) == (
        TaskResult.FAILURE, 3, "FailureExitCode")
    assert blobs(home, "fails") == {"failure/f.txt": b"failed\n", "completion/f.txt": b"failed\n"}
    assert tasks["timeout"].failure.code == "MaxWallClockTimeExpiry"
    assert blobs(home, "slow") == {"failure/f.txt": b"slow\n", "completion/f.txt": b"slow\n"}


def test_a_link_that_is_not_the_local_store_fails_the_task_in_one_line_before_it_runs(pool, tmp_path: Path) -> None:
    backend, pool_id, _ = pool
    ran = tmp_path / "ran"
    backend.add_job(JobSpec("azure-out", pool_id, tasks=(
        TaskSpec("azure", f"/bin/touch {ran}", output_files=(OutputFile("wd/*", "out", "azuresa"),)),
        TaskSpec("unknown", f"/bin/touch {ran}", output_files=(OutputFile("wd/*", "out", "nosuchsa"),)),
    )))
    tasks = finished_tasks(backend, "azure-out")
    azure, unknown = tasks["azure"], tasks["unknown"]
    assert (azure.result, azure.exit_code, azure.failure.code) == (TaskResult.FAILURE, None, "FileUploadError")
    assert azure.failure.message == ("output_files go to storage link 'azuresa', which is not the local store: the "
                                     "local backend uploads task output only to links with endpoint: local")
    assert unknown.failure.code == "FileUploadError"
    assert unknown.failure.message == ("output_files name storage link 'nosuchsa', which the pool's credentials do "
                                       "not have (azuresa, localsa)")
    assert not ran.exists() and azure.retry_count == 0


def test_a_failing_upload_fails_the_task_and_the_node_goes_on(pool) -> None:
    backend, pool_id, home = pool
    store = store_of(home)
    store.ensure_container("clash")
    store.put_blob("clash", "res", b"a blob where the task's output wants a folder")
    outputs = (out("wd/*/x.txt", "clash"),)
    backend.add_job(JobSpec("broken-upload", pool_id, tasks=(
        TaskSpec("t1", sh("mkdir res && echo x > res/x.txt"), output_files=outputs, max_task_retries=2),
        TaskSpec("t2", sh("mkdir res && echo x > res/x.txt; exit 5"), output_files=outputs),
    )))
    tasks = finished_tasks(backend, "broken-upload")
    t1, t2 = tasks["t1"], tasks["t2"]
    assert (t1.result, t1.exit_code, t1.failure.code, t1.retry_count) == (TaskResult.FAILURE, 0, "FileUploadError", 0)
    assert t1.failure.message.startswith("uploading output file (wd/res/x.txt): the local store cannot hold blob "
                                         f"local://{ACCOUNT}/clash/res/x.txt")
    assert "\n" not in t1.failure.message
    assert backend.read_task_file("broken-upload", "t1", "fileuploaderr.txt").decode() == t1.failure.message + "\n"
    # a try that failed anyway keeps its own failure (and its retries); the upload's is added
    assert (t2.exit_code, t2.failure.code) == (5, "FailureExitCode")
    assert t2.failure.message.startswith("the task exited with code 5; and uploading output file (wd/res/x.txt)")
    assert [b.name for b in store.list_blobs("clash")] == ["res"]
    # the node stays usable
    node = backend.list_nodes(pool_id)[0]
    assert node.state in (NodeState.IDLE, NodeState.RUNNING)
    backend.add_tasks("broken-upload", [TaskSpec("after", sh("echo fine > f.txt"), output_files=(out("wd/f.txt", "fine"),))])
    assert finished_tasks(backend, "broken-upload")["after"].result == TaskResult.SUCCESS
    assert blobs(home, "fine") == {"f.txt": b"fine\n"}


def test_output_patterns_that_leave_the_task_directory_are_refused_up_front(pool) -> None:
    backend, pool_id, _ = pool
    backend.add_job(JobSpec("refused-out", pool_id))
    for pattern in ("../x", "/etc/passwd", "wd/../../x", ""):
        with pytest.raises(BackendError, match="must be relative to the task directory"):
            backend.add_tasks("refused-out", [TaskSpec("t1", "/bin/true", output_files=(out(pattern, "o"),))])
    with pytest.raises(BackendError, match="retention_time cannot be negative"):
        backend.add_tasks("refused-out", [TaskSpec("t1", "/bin/true", retention_time_s=-1)])
    assert backend.list_tasks("refused-out") == []


def test_retention_removes_a_completed_tasks_directory_and_keeps_its_record(pool) -> None:
    backend, pool_id, home = pool
    backend.add_job(JobSpec("retained", pool_id, tasks=(
        TaskSpec("short", sh("echo kept for a second > f.txt"), retention_time_s=1),
        TaskSpec("default", sh("echo kept for days > f.txt")),
    )))
    tasks = finished_tasks(backend, "retained")
    node = tasks["short"].node_id
    assert node is not None
    short = task_dir(home, pool_id, node, "retained", "short")
    wait_until(lambda: not short.exists(), "retention to remove the short task's directory")
    with pytest.raises(NotFoundError) as caught:
        backend.read_task_file("retained", "short", "wd/f.txt")
    assert str(caught.value) == ("the files of task short of job retained were removed when its retention time "
                                 "(1s after it completed) passed")
    with pytest.raises(NotFoundError, match="removed when its retention time"):
        backend.list_task_files("retained", "short")
    listed = {t.id: t for t in backend.list_tasks("retained")}
    assert listed["short"].state == TaskState.COMPLETED and listed["short"].result == TaskResult.SUCCESS
    assert backend.read_task_file("retained", "default", "wd/f.txt") == b"kept for days\n"  # Batch's 7 days
    wait_until(lambda: not any((home / "local" / "pools" / pool_id / "trash").iterdir()), "the trash to be emptied")


def test_retention_survives_a_supervisor_restart(pool) -> None:
    backend, pool_id, home = pool
    backend.add_job(JobSpec("retained-restart", pool_id, tasks=(
        TaskSpec("t1", sh("echo x > f.txt"), retention_time_s=3),)))
    task = finished_tasks(backend, "retained-restart")["t1"]
    directory = task_dir(home, pool_id, task.node_id, "retained-restart", "t1")
    old = backend.supervisor_pid(pool_id)
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: not backend.supervisors.running(pool_id), "the supervisor's lock to be free")
    assert backend.supervisor_pid(pool_id) != old  # started again; it reads the completed task's retention back
    wait_until(lambda: not directory.exists(), "the new supervisor to remove the task's directory")
    assert backend.get_task("retained-restart", "t1").state == TaskState.COMPLETED
    idle_nodes(backend, pool_id, 1)


def test_file_patterns_match_as_batch_says(tmp_path: Path) -> None:
    from shipyard.pools.local.outputs import applies, matches

    for name in ("wd/a.txt", "wd/b.log", "wd/x/c.txt", "wd/x/y/d.txt", "wd/.e.txt", "wd/.git/f.txt", "wd/ab*.txt",
                 "wd/abc.txt", "stdout.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "z.txt").write_text("outside")
    os.symlink(tmp_path / "elsewhere", tmp_path / "wd" / "link")  # a link to a directory is not followed

    def names(pattern: str) -> list[str]:
        return sorted(name for _, name in matches(tmp_path, pattern))

    assert names("wd/**/*.txt") == ["a.txt", "ab*.txt", "abc.txt", "x/c.txt", "x/y/d.txt"]  # ** takes no dot dir
    assert names("wd/*.txt") == ["a.txt", "ab*.txt", "abc.txt"]
    assert names("wd/x/**") == ["c.txt", "y/d.txt"]
    assert names("wd/ab[*].txt") == ["ab*.txt"]  # a wildcard character, escaped in brackets
    assert names("wd/?.log") == ["b.log"]
    assert names("wd/.*") == [".e.txt"]
    assert names("wd/.git/*") == ["f.txt"]
    assert names("wd/x/y/d.txt") == ["d.txt"]  # one named file: its own name
    assert names("wd/x") == [] and names("wd/nothing.txt") == [] and names("nowhere/*") == []
    assert names("*.txt") == ["stdout.txt"]
    assert [applies(c, ok) for c in ("tasksuccess", "taskfailure", "taskcompletion") for ok in (True, False)] == [
        True, False, False, True, True, True]
