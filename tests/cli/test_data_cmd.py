"""`shipyard data files ...` on the local backend, end to end, in Batch Shipyard's forms: list a
task's files, stream one, download one (or all that match) from a task or from a node.

One pool for the module (`pool add` through the CLI), one job whose tasks write known output; the
pool is deleted (`pool del`) at the end with no process left.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.pool_cli import CliPool, added_pool, run_shipyard

JOBS = """
job_specifications:
- id: files-job
  tasks:
  - id: writer
    command: /bin/sh -c 'echo out; echo err >&2; mkdir -p sub; echo deep > sub/deep.txt'
  - id: slow
    command: /bin/sh -c 'echo start; sleep 0.5; echo end'
"""


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory, ubuntu_vhd: Path) -> Iterator[CliPool]:
    with added_pool(tmp_path_factory.mktemp("data"), ubuntu_vhd, dedicated=1, slots=2) as pool:
        pool.write_jobs(JOBS)
        assert run_shipyard("jobs", "add", *pool.options).code == 0
        done = run_shipyard("jobs", "tasks", "list", "--poll-until-tasks-complete", *pool.options)
        assert done.code == 0, done.err
        yield pool


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_files_list_names_every_file_of_each_task(cli, pool: CliPool) -> None:
    rows = cli("data", "files", "list", "--raw", *pool.options).json()
    writer = {row["file"]: row["bytes"] for row in rows if row["task"] == "writer"}
    assert writer == {"stdout.txt": 4, "stderr.txt": 4, "wd/sub/deep.txt": 5}
    assert {row["job"] for row in rows} == {"files-job"}
    only = cli("data", "files", "list", "--jobid", "files-job", "--taskid", "slow", *pool.options)
    assert only.code == 0 and "slow" in only.out and "writer" not in only.out
    missing = cli("data", "files", "list", "--jobid", "files-job", "--taskid", "nope", *pool.options)
    assert missing.code == 2 and "task nope is not in job files-job" in missing.err


def test_stream_prints_a_tasks_file(cli, pool: CliPool, here: Path) -> None:
    result = cli("data", "files", "stream", "--filespec", "files-job,slow,stdout.txt", *pool.options)
    assert (result.code, result.out) == (0, "start\nend\n")
    raw = cli("data", "files", "stream", "--filespec", "files-job,writer,stderr.txt", "--raw", *pool.options).json()
    assert raw == {"job": "files-job", "task": "writer", "file": "stderr.txt", "bytes": 4, "text": "err\n"}
    disk = cli("data", "files", "stream", "--filespec", "files-job,writer,stdout.txt", "--disk", *pool.options)
    assert disk.code == 0 and (here / "stdout.txt").read_text() == "out\n"


def test_task_downloads_one_file_or_every_match(cli, pool: CliPool, here: Path) -> None:
    one = cli("data", "files", "task", "--filespec", "files-job,writer,wd/sub/deep.txt", *pool.options)
    assert one.code == 0 and one.out.strip() == "wd/sub/deep.txt -> deep.txt (5 bytes)"
    assert (here / "deep.txt").read_text() == "deep\n"
    again = cli("data", "files", "task", "--filespec", "files-job,writer,wd/sub/deep.txt", *pool.options)
    assert again.code == 2 and "overwrite deep.txt: pass -y to confirm" in again.err  # no terminal, no -y
    assert cli("data", "files", "task", "--filespec", "files-job,writer,wd/sub/deep.txt", "-y",
               *pool.options).code == 0
    every = cli("data", "files", "task", "--all", "--filespec", "files-job,writer,*.txt", "--raw", *pool.options)
    assert every.code == 0
    assert sorted(item["file"] for item in every.json()) == ["stderr.txt", "stdout.txt", "wd/sub/deep.txt"]
    assert (here / "files-job" / "writer" / "wd" / "sub" / "deep.txt").read_text() == "deep\n"
    none = cli("data", "files", "task", "--all", "--filespec", "files-job,writer,*.bin", *pool.options)
    assert none.code == 2 and "no file of the task writer matches '*.bin'" in none.err


def test_node_files_by_nodeid_or_filespec(cli, pool: CliPool, here: Path) -> None:
    (node,) = cli("pool", "nodes", "list", "--raw", *pool.options).json()["nodes"]
    result = cli("data", "files", "node", "--nodeid", node["id"], "--filespec", "startup/stdout.txt", *pool.options)
    assert result.code == 0, result.err
    assert "node prep: ok" in (here / "stdout.txt").read_text()
    form = cli("data", "files", "node", "--filespec", f"{node['id']},startup/stderr.txt", *pool.options)
    assert form.code == 0 and (here / "stderr.txt").exists()
    every = cli("data", "files", "node", "--nodeid", node["id"], "--all", "--filespec", "startup/*", "--raw",
                *pool.options)
    assert every.code == 0
    assert {"startup/stdout.txt", "startup/stderr.txt"} <= {item["file"] for item in every.json()}
    assert (here / "clipool" / node["id"] / "startup" / "stdout.txt").exists()


@pytest.mark.parametrize("args, message", [
    (("stream", "--filespec", "files-job,writer"), "expected JOB,TASK,FILE"),
    (("task", "--filespec", "files-job,,stdout.txt"), "expected JOB,TASK,FILE"),
    (("task", "--filespec", "files-job,nope,stdout.txt"), "task nope is not in job files-job"),
    (("task", "--filespec", "no-job,writer,stdout.txt"), "job no-job does not exist"),
    (("task", "--filespec", "files-job,writer,../../../../startup/stdout.txt"), "is not a path inside"),
    (("node", "--filespec", "startup/stdout.txt"), "expected NODE,FILE"),
    (("node", "--nodeid", "no-node", "--filespec", "startup/stdout.txt"), "node no-node is not in pool clipool"),
])
def test_bad_filespecs_are_one_line_and_exit_2(cli, pool: CliPool, here: Path, args: tuple[str, ...],
                                               message: str) -> None:
    result = cli("data", "files", *args, *pool.options)
    assert result.code == 2 and message in result.err and len(result.err.splitlines()) == 1, result.err
    assert list(here.iterdir()) == []


def test_stream_follows_the_first_running_task_until_it_completes(cli, pool: CliPool) -> None:
    """`@FIRSTRUNNING`, streamed while it runs: the task goes on only once its first line has come
    through the stream (a file it waits for), so the order is fixed without any timing."""
    import os
    import subprocess
    import sys

    go = pool.home / "go"
    pool.write_jobs(f"""
        job_specifications:
        - id: follow
          tasks:
          - id: waiter
            command: /bin/sh -c 'echo started; while [ ! -e {go} ]; do sleep 0.05; done; echo finished'
        """)
    assert cli("jobs", "add", *pool.options).code == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "shipyard", "data", "files", "stream", "--filespec", "follow,@FIRSTRUNNING,stdout.txt",
         *pool.options], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ), text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "started\n"  # streamed while the task still runs
        go.touch()
        rest, err = proc.communicate(timeout=120)
    finally:
        go.touch()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (proc.returncode, rest, err) == (0, "finished\n", "")
