"""`shipyard jobs ...` on the local backend, end to end: jobs.yaml's jobs added all or nothing (task
factories, generated ids, dependencies), their tasks listed and polled, terminated, deleted.

The module shares one pool (`pool add` through the CLI, 2 nodes of 2 slots); each test adds jobs
of its own ids, and the pool is deleted (`pool del`) at the end with no process left.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.pool_cli import CliPool, added_pool
from fixtures.pools import wait_until

SWEEP = """
job_specifications:
- id: {job}
  tasks:
  - id: prepare
    command: /bin/sh -c 'echo ready > $AZ_BATCH_NODE_SHARED_DIR/{job}.txt'
  - depends_on: [prepare]
    task_factory:
      parametric_sweep:
        product:
        - start: 1
          stop: 4
          step: 1
    command: /bin/sh -c 'echo "square of {{0}} is $(({{0}} * {{0}}))"'
"""


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory, ubuntu_vhd: Path) -> Iterator[CliPool]:
    with added_pool(tmp_path_factory.mktemp("jobs"), ubuntu_vhd, dedicated=2, slots=2) as pool:
        yield pool


def jobs_of(cli, pool: CliPool) -> list[str]:
    return [job["id"] for job in cli("jobs", "list", "--raw", *pool.options).json()]


def test_a_sweep_with_a_dependency_runs_and_its_tasks_are_listed(cli, pool: CliPool, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    pool.write_jobs(SWEEP.format(job="sweep"))
    added = cli("jobs", "add", *pool.options)
    assert added.code == 0, added.err
    assert added.out.strip() == ("job sweep added to pool clipool: 4 tasks "
                                 "(prepare, task-00000, task-00001, task-00002)")
    polled = cli("jobs", "tasks", "list", "--poll-until-tasks-complete", *pool.options)
    assert polled.code == 0, polled.err
    assert "job sweep: 4 completed" in polled.out.splitlines()  # the progress lines, then the table
    rows = {line.split()[1]: line.split() for line in polled.out.splitlines() if line.startswith("sweep ")}
    assert set(rows) == {"prepare", "task-00000", "task-00001", "task-00002"}
    assert all(row[2:4] == ["completed", "0"] for row in rows.values())

    tasks = {t["id"]: t for t in cli("jobs", "tasks", "list", "--jobid", "sweep", "--raw", *pool.options).json()}
    assert set(tasks["prepare"]) >= {"id", "job_id", "state", "exit_code", "node_id", "retry_count", "blocked_by",
                                     "start_time", "end_time", "failure"}
    assert all(tasks[t]["start_time"] >= tasks["prepare"]["end_time"] for t in ("task-00000", "task-00002"))
    monkeypatch.chdir(tmp_path)
    got = cli("data", "files", "task", "--filespec", "sweep,task-00001,stdout.txt", *pool.options)
    assert got.code == 0, got.err
    assert (tmp_path / "stdout.txt").read_text() == "square of 2 is 4\n"

    listed = cli("jobs", "list", "--raw", *pool.options).json()
    job = next(j for j in listed if j["id"] == "sweep")
    assert (job["pool_id"], job["state"], job["task_counts"]["completed"]) == ("clipool", "active", 4)


def test_jobs_add_tail_streams_the_last_tasks_output(cli, pool: CliPool) -> None:
    pool.write_jobs("""
        job_specifications:
        - id: tailed
          tasks:
          - id: first
            command: /bin/echo first
          - id: last
            command: /bin/sh -c 'echo one; sleep 0.3; echo two'
        """)
    result = cli("jobs", "add", "--tail", "stdout.txt", *pool.options)
    assert result.code == 0, result.err
    assert result.out.endswith("stdout.txt of task last of job tailed:\none\ntwo\n")
    assert cli("jobs", "add", "--tail", "stdout.txt", "--raw", *pool.options).code == 2


JOB = "- id: {id}\n  tasks:\n{tasks}"


@pytest.mark.parametrize("jobs, message", [
    ("job_specifications:\n- id: [unclosed\n", "invalid YAML"),
    ("job_specifications:\n- id: dup\n  tasks:\n  - id: a\n    command: /bin/true\n  - id: a\n    command: /bin/true\n",
     "duplicate task id 'a'"),
    ("job_specifications:\n- id: deps\n  tasks:\n  - id: a\n    command: /bin/true\n    depends_on: [nope]\n",
     "depends on task 'nope', which job 'deps' does not have"),
    ("job_specifications:\n- id: cyc\n  tasks:\n  - id: a\n    command: /bin/true\n    depends_on: [b]\n"
     "  - id: b\n    command: /bin/true\n    depends_on: [a]\n", "form a cycle: a -> b -> a"),
    ("job_specifications:\n- id: twice\n  tasks:\n  - command: /bin/true\n- id: twice\n  tasks:\n"
     "  - command: /bin/true\n", "duplicate job id 'twice'"),
])
def test_a_bad_jobs_file_is_refused_and_nothing_is_added(cli, pool: CliPool, jobs: str, message: str) -> None:
    before = jobs_of(cli, pool)
    pool.write_jobs(jobs)
    result = cli("jobs", "add", *pool.options)
    assert result.code == 2 and message in result.err and len(result.err.splitlines()) == 1, result.err
    assert jobs_of(cli, pool) == before


def test_all_or_nothing_across_jobs(cli, pool: CliPool) -> None:
    """A job id already taken, or a job the backend refuses, stops the file before its first job."""
    pool.write_jobs("job_specifications:\n- id: taken\n  tasks:\n  - command: /bin/true\n")
    assert cli("jobs", "add", *pool.options).code == 0
    before = jobs_of(cli, pool)
    pool.write_jobs("job_specifications:\n- id: fresh\n  tasks:\n  - command: /bin/true\n"
                    "- id: taken\n  tasks:\n  - command: /bin/true\n")
    taken = cli("jobs", "add", *pool.options)
    assert taken.code == 2 and "job taken already exists" in taken.err
    pool.write_jobs("""
        job_specifications:
        - id: fresh
          tasks:
          - command: /bin/true
        - id: uploads
          tasks:
          - command: /bin/true
            output_data:
              azure_storage:
              - storage_account_settings: localsa
                remote_path: out/run
                local_path: $AZ_BATCH_TASK_DIR/../..
        """)
    refused = cli("jobs", "add", *pool.options)  # an output pattern that would leave the task directory
    assert refused.code == 2 and "local_path: must be under $AZ_BATCH_TASK_DIR" in refused.err, refused.err
    assert jobs_of(cli, pool) == before  # `fresh` was not added either


def test_an_unknown_pool_is_refused(cli, pool: CliPool, tmp_path: Path) -> None:
    other = CliPool(pool.home, tmp_path / "other", pool.vhd)  # a config naming a pool never added
    other.write_pool("nopool")
    other.write_jobs("job_specifications:\n- id: orphan\n  tasks:\n  - command: /bin/true\n")
    result = cli("jobs", "add", *other.options)
    assert result.code == 2 and result.err.startswith("shipyard: error: pool nopool does not exist")
    assert "orphan" not in jobs_of(cli, pool)


def test_a_failed_dependency_blocks_its_dependant(cli, pool: CliPool) -> None:
    pool.write_jobs("""
        job_specifications:
        - id: blocking
          tasks:
          - id: fails
            command: /bin/sh -c 'exit 3'
          - id: after
            command: /bin/true
            depends_on: [fails]
        """)
    assert cli("jobs", "add", *pool.options).code == 0
    polled = cli("jobs", "tasks", "list", "--poll-until-tasks-complete", "--jobid", "blocking", *pool.options)
    assert polled.code == 0
    after = next(line for line in polled.out.splitlines() if line.startswith("blocking ") and " after " in line)
    assert "active" in after and after.rstrip().endswith("blocked: depends on failed task fails")
    fails = next(line for line in polled.out.splitlines() if line.startswith("blocking ") and " fails " in line)
    assert " completed " in fails and " 3 " in fails and "FailureExitCode" in fails
    raw = {t["id"]: t for t in cli("jobs", "tasks", "list", "--jobid", "blocking", "--raw", *pool.options).json()}
    assert raw["after"]["blocked_by"] == ["fails"] and raw["fails"]["exit_code"] == 3


def test_tasks_and_jobs_are_terminated_and_deleted(cli, pool: CliPool) -> None:
    pool.write_jobs("""
        job_specifications:
        - id: long
          tasks:
          - id: sleeper
            command: /bin/sleep 300
          - id: other
            command: /bin/sleep 300
        """)
    assert cli("jobs", "add", *pool.options).code == 0

    def running() -> bool:
        tasks = cli("jobs", "tasks", "list", "--jobid", "long", "--raw", *pool.options).json()
        return all(t["state"] == "running" for t in tasks)

    wait_until(running, "both tasks to run")
    refused = cli("jobs", "tasks", "term", "--jobid", "long", "--taskid", "sleeper", *pool.options)
    assert refused.code == 2 and "pass -y" in refused.err
    ended = cli("jobs", "tasks", "term", "--jobid", "long", "--taskid", "sleeper", "-y", *pool.options)
    assert ended.code == 0 and ended.out.strip() == "task sleeper of job long: terminated"
    tasks = {t["id"]: t for t in cli("jobs", "tasks", "list", "--jobid", "long", "--raw", *pool.options).json()}
    assert tasks["sleeper"]["state"] == "completed" and tasks["sleeper"]["failure"]["code"] == "TaskEnded"
    assert cli("jobs", "tasks", "term", "--jobid", "long", "--taskid", "nope", "-y", *pool.options).code == 2

    term = cli("jobs", "term", "--jobid", "long", "--wait", "-y", *pool.options)
    assert term.code == 0 and term.out.strip() == "job long: terminated"
    job = next(j for j in cli("jobs", "list", "--raw", *pool.options).json() if j["id"] == "long")
    assert job["state"] == "completed"
    assert cli("jobs", "del", "--jobid", "long", *pool.options).code == 2  # no terminal, no -y
    deleted = cli("jobs", "del", "--jobid", "long", "-y", "--raw", *pool.options)
    assert deleted.code == 0 and deleted.json() == {"jobs": ["long"], "delete": True}
    assert "long" not in jobs_of(cli, pool)
    missing = cli("jobs", "del", "--jobid", "long", "-y", *pool.options)
    assert missing.code == 2 and "job long does not exist" in missing.err


def test_job_commands_name_their_jobs(cli, pool: CliPool) -> None:
    (pool.configdir / "jobs.yaml").unlink(missing_ok=True)
    result = cli("jobs", "tasks", "list", *pool.options)
    assert result.code == 2 and "pass --jobid ID, or a jobs file" in result.err
    pool.write_jobs("job_specifications:\n- id: never-added\n  tasks:\n  - command: /bin/true\n")
    result = cli("jobs", "tasks", "list", *pool.options)
    assert result.code == 2 and "job never-added of the jobs file does not exist" in result.err
    table = cli("jobs", "list", *pool.options)
    assert table.code == 0 and table.out.splitlines()[0].split()[:4] == ["job", "pool", "state", "priority"]


def test_no_secret_in_the_task_listings(cli, pool: CliPool) -> None:
    pool.write_jobs("""
        job_specifications:
        - id: secret
          tasks:
          - id: sas
            command: /bin/echo https://acct.blob.core.windows.net/c/b.bin?sv=2024-01-01&sig=TOPSECRET
        """)
    assert cli("jobs", "add", *pool.options).code == 0
    raw = cli("jobs", "tasks", "list", "--jobid", "secret", "--poll-until-tasks-complete", "--raw", *pool.options)
    assert raw.code == 0 and "TOPSECRET" not in raw.out
    assert raw.json()[0]["command_line"].startswith("/bin/echo https://acct.blob.core.windows.net/c/b.bin")
    assert "TOPSECRET" not in cli("jobs", "tasks", "list", "--jobid", "secret", *pool.options).out
