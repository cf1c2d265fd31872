"""The state database under concurrent CLI processes: real OS processes racing, exact final counts."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from shipyard.pools.local.backend import LocalBackend
from shipyard.pools.local.state import SCHEMA_VERSION, StateDB
from shipyard.pools.models import JobSpec, TaskSpec

SRC = Path(__file__).resolve().parents[3] / "src"
PRELUDE = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path
    args = json.loads(sys.argv[1])
    go = Path(args["go"])
    while not go.exists():  # every process starts its race at the same moment
        time.sleep(0.001)
""")


def race(tmp_path: Path, body: str, workers: list[dict]) -> list[dict]:
    """Run ``body`` in one process per ``workers`` entry, all released at once; their JSON results."""
    go = tmp_path / "go"
    script = PRELUDE + textwrap.dedent(body)
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    children = [subprocess.Popen([sys.executable, "-c", script, json.dumps({**w, "go": str(go)})],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) for w in workers]
    go.touch()
    results = []
    for child in children:
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err.decode()[-2000:]
        results.append(json.loads(out))
    return results


@pytest.fixture
def idle_pool(home: Path, pool_files, ubuntu_vhd):
    """A pool of no nodes: its tasks stay active, so every count is the racers' alone."""
    backend = LocalBackend(str(home))
    backend.add_pool(pool_files.spec("race", [pool_files.upload(ubuntu_vhd)], dedicated=0))
    yield backend
    backend.delete_pool("race")
    backend.close()


def test_two_processes_adding_the_same_job_one_wins(tmp_path: Path, home: Path, idle_pool) -> None:
    body = """
        from shipyard.errors import ConflictError
        from shipyard.pools.local.backend import LocalBackend
        from shipyard.pools.models import JobSpec, TaskSpec
        backend = LocalBackend(args["home"])
        try:
            backend.add_job(JobSpec("same", "race", tasks=(TaskSpec(args["task"], "/bin/true"),)))
            print(json.dumps({"won": True}))
        except ConflictError as exc:
            print(json.dumps({"won": False, "error": str(exc)}))
    """
    results = race(tmp_path, body, [{"home": str(home), "task": f"t{i}"} for i in range(6)])
    assert sum(r["won"] for r in results) == 1
    assert {r["error"] for r in results if not r["won"]} == {"job same already exists"}
    tasks = idle_pool.list_tasks("same")
    assert len(tasks) == 1  # the winner's task only: a loser's add_job left nothing behind


def test_racing_add_tasks_and_list_tasks_lose_nothing(tmp_path: Path, home: Path, idle_pool) -> None:
    idle_pool.add_job(JobSpec("many", "race"))
    writer = """
        from shipyard.errors import ConflictError
        from shipyard.pools.local.backend import LocalBackend
        from shipyard.pools.models import TaskSpec
        backend = LocalBackend(args["home"])
        added = conflicts = 0
        for batch in range(6):
            ids = [f"w{args['n']}-{batch}-{i}" for i in range(50)]
            backend.add_tasks("many", [TaskSpec(t, "/bin/true") for t in ids])
            added += len(ids)
            try:  # a batch repeating one existing id adds nothing at all
                backend.add_tasks("many", [TaskSpec(f"w{args['n']}-{batch}-new", "/bin/true"), TaskSpec(ids[0], "/bin/true")])
            except ConflictError:
                conflicts += 1
        print(json.dumps({"added": added, "conflicts": conflicts}))
    """
    reader = """
        from shipyard.pools.local.backend import LocalBackend
        backend = LocalBackend(args["home"])
        seen, deadline = [], time.monotonic() + 120
        while time.monotonic() < deadline:
            tasks = backend.list_tasks("many")
            ids = [t.id for t in tasks]
            assert len(ids) == len(set(ids)), "a task listed twice"
            seen.append(len(ids))
            if len(ids) == args["total"]:
                break
        print(json.dumps({"seen": seen}))
    """
    total = 5 * 6 * 50
    writers = race(tmp_path, writer, [{"home": str(home), "n": n} for n in range(5)])
    assert [w["added"] for w in writers] == [300] * 5 and [w["conflicts"] for w in writers] == [6] * 5
    tasks = idle_pool.list_tasks("many")
    assert len(tasks) == total and len({t.id for t in tasks}) == total
    assert not any(t.id.endswith("-new") for t in tasks)
    (tmp_path / "go").unlink()
    readers = race(tmp_path, reader, [{"home": str(home), "total": total}] * 2)
    assert all(r["seen"][-1] == total for r in readers)


def test_writers_and_readers_race_on_one_job(tmp_path: Path, home: Path, idle_pool) -> None:
    idle_pool.add_job(JobSpec("mixed", "race"))
    body = """
        from shipyard.pools.local.backend import LocalBackend
        from shipyard.pools.models import TaskSpec
        backend = LocalBackend(args["home"])
        counts = []
        for batch in range(10):
            if args["write"]:
                backend.add_tasks("mixed", [TaskSpec(f"{args['n']}-{batch}-{i}", "/bin/true") for i in range(20)])
            else:
                counts.append(len(backend.list_tasks("mixed")))
                counts.append(sum(n for _, n in backend.get_job("mixed").task_counts))
        print(json.dumps({"counts": counts}))
    """
    results = race(tmp_path, body, [{"home": str(home), "n": n, "write": n % 2 == 0} for n in range(6)])
    assert len(idle_pool.list_tasks("mixed")) == 3 * 10 * 20
    for result in results:
        assert all(0 <= c <= 600 and c % 20 == 0 for c in result["counts"])  # whole batches only


def test_the_first_processes_create_the_schema_once(tmp_path: Path) -> None:
    db = tmp_path / "fresh" / "pools.db"
    body = """
        from shipyard.pools.local.state import StateDB
        state = StateDB(Path(args["db"]))
        for i in range(20):
            with state.write() as conn:
                conn.execute("INSERT INTO node_events (pool_id, node_id, state, time) VALUES (?, ?, 'idle', 0)",
                             (str(args["n"]), str(i)))
        print(json.dumps({"ok": True}))
    """
    race(tmp_path, body, [{"db": str(db), "n": n} for n in range(6)])
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT COUNT(*) FROM node_events").fetchone()[0] == 6 * 20


def test_a_newer_schema_is_refused_in_one_line(tmp_path: Path) -> None:
    from shipyard.errors import BackendError

    path = tmp_path / "pools.db"
    StateDB(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(BackendError, match="schema") as caught:
        StateDB(path)
    assert "\n" not in str(caught.value)


def test_a_version_1_database_is_migrated_and_its_seqs_are_never_reused(tmp_path: Path) -> None:
    """Version 1 numbered jobs and tasks by plain rowids, which SQLite reuses once the newest row is
    deleted; version 2 keeps every row and seq and never hands a seq out twice."""
    from shipyard.pools.local.state import SCHEMA

    path = tmp_path / "pools.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(SCHEMA.replace(" AUTOINCREMENT", ""))
        conn.execute("INSERT INTO jobs (id, pool_id, state, priority, environment, created) "
                     "VALUES ('j', 'p', 'active', 0, '{}', 0)")
        conn.executemany("INSERT INTO tasks (job_id, id, spec, state) VALUES ('j', ?, '{}', 'active')",
                         [("a",), ("b",)])
        conn.execute("PRAGMA user_version=1")
    db = StateDB(path)
    assert db.query("PRAGMA user_version")[0][0] == SCHEMA_VERSION == 2
    assert [(r["seq"], r["id"]) for r in db.query("SELECT seq, id FROM tasks ORDER BY seq")] == [(1, "a"), (2, "b")]
    with db.write() as conn:
        conn.execute("DELETE FROM tasks WHERE id = 'b'")
        conn.execute("INSERT INTO tasks (job_id, id, spec, state) VALUES ('j', 'c', '{}', 'active')")
    assert [r["seq"] for r in db.query("SELECT seq FROM tasks WHERE id = 'c'")] == [3]
    assert db.query("SELECT COUNT(*) FROM sqlite_master WHERE name = 'tasks_by_state'")[0][0] == 1
    db.close()


def test_a_rolled_back_write_leaves_nothing(tmp_path: Path) -> None:
    state = StateDB(tmp_path / "pools.db")
    with pytest.raises(RuntimeError), state.write() as conn:
        conn.execute("INSERT INTO node_events (pool_id, node_id, state, time) VALUES ('p', 'n', 'idle', 0)")
        raise RuntimeError("boom")
    assert state.query("SELECT COUNT(*) FROM node_events")[0][0] == 0
    state.close()


def test_tasks_added_with_a_job_share_its_fate(home: Path, idle_pool) -> None:
    from shipyard.errors import NotFoundError

    with pytest.raises(NotFoundError, match="ghost"):
        idle_pool.add_job(JobSpec("fated", "race", tasks=(TaskSpec("a", "/bin/true", depends_on=("ghost",)),)))
    with pytest.raises(NotFoundError):
        idle_pool.get_job("fated")


def test_terminating_a_job_of_thousands_of_waiting_tasks_ends_them_all(idle_pool) -> None:
    from fixtures.pools import wait_until
    from shipyard.pools.models import JobState, TaskResult, TaskState

    idle_pool.add_job(JobSpec("big", "race", tasks=tuple(TaskSpec(f"t{i}", "/bin/true") for i in range(3000))))
    idle_pool.wait_for_requests("race")
    idle_pool.terminate_job("big")
    wait_until(lambda: idle_pool.get_job("big").state == JobState.COMPLETED, "the job to complete")
    tasks = idle_pool.list_tasks("big")
    assert len(tasks) == 3000
    assert {(t.state, t.result, t.failure.code) for t in tasks} == {(TaskState.COMPLETED, TaskResult.FAILURE,
                                                                     "TaskEnded")}
