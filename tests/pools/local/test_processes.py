"""Processes the local backend starts, it stops: none of a pool's is left after ``delete_pool``."""

from __future__ import annotations

import os
from pathlib import Path

from fixtures.pools import home_processes, idle_nodes, task_in_state, wait_until
from shipyard.pools.local.backend import LocalBackend
from shipyard.pools.models import JobSpec, TaskSpec, TaskState


def test_delete_pool_leaves_no_process_and_no_state(home: Path, pool_files, ubuntu_vhd) -> None:
    assert home_processes(home) == []
    backend = LocalBackend(str(home))
    pool = backend.add_pool(pool_files.spec("counted", [pool_files.upload(ubuntu_vhd)], dedicated=2))
    supervisor = backend.supervisor_pid(pool.id)
    assert supervisor is not None and os.getsid(supervisor) == supervisor  # detached: its own session
    idle_nodes(backend, "counted", 2)
    backend.add_job(JobSpec("job", "counted", tasks=(
        TaskSpec("a", "/bin/sh -c 'sleep 300 & sleep 300'"), TaskSpec("b", "/bin/sh -c 'trap \"\" TERM; sleep 300'"))))
    for task in ("a", "b"):
        task_in_state(backend, "job", task, TaskState.RUNNING)
    # supervisor, 2 nodes, the tasks' processes (a task is running before its shell has forked them all)
    def all_started() -> list[int] | None:
        found = home_processes(home)
        return found if len(found) >= 1 + 2 + 4 else None

    running = wait_until(all_started, "the supervisor, 2 nodes and the tasks' 4 processes")
    assert supervisor in running

    backend.delete_pool("counted")
    assert home_processes(home) == []
    assert not (home / "local" / "pools" / "counted").exists()
    assert backend.db.query("SELECT COUNT(*) FROM nodes")[0][0] == 0
    tasks = {t.id: t for t in backend.list_tasks("job")}  # the job stays, its tasks back to active
    assert all(t.state == TaskState.ACTIVE and t.requeue_count == 1 and t.node_id is None for t in tasks.values())
    backend.close()


def test_a_pool_re_added_under_the_same_id_runs_its_jobs_waiting_tasks(home: Path, pool_files, ubuntu_vhd) -> None:
    from fixtures.pools import finished_tasks

    backend = LocalBackend(str(home))
    uri = pool_files.upload(ubuntu_vhd)
    backend.add_pool(pool_files.spec("again", [uri], dedicated=0))
    backend.add_job(JobSpec("job", "again", tasks=(TaskSpec("t1", "/bin/true"),)))
    backend.delete_pool("again")
    backend.add_pool(pool_files.spec("again", [uri], dedicated=1))
    assert finished_tasks(backend, "job")["t1"].exit_code == 0
    backend.delete_pool("again")
    assert home_processes(home) == []
    backend.close()


def _pss_rss_kib(pid: int) -> tuple[int, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, _, value = line.partition(":")
        fields[name] = int(value.split()[0])
    return fields["Pss"], fields["Rss"]


def test_nodes_are_forked_from_the_supervisor_and_share_its_memory(home: Path, pool_files, ubuntu_vhd) -> None:
    backend = LocalBackend(str(home))
    backend.add_pool(pool_files.spec("forked", [pool_files.upload(ubuntu_vhd)], dedicated=2))
    supervisor = backend.supervisor_pid("forked")
    assert supervisor is not None
    nodes = idle_nodes(backend, "forked", 2)
    pids = [int(r["pid"]) for r in backend.db.query("SELECT pid FROM nodes WHERE pool_id = 'forked'")]
    assert len(pids) == len(nodes) == 2
    supervisor_cmdline = Path(f"/proc/{supervisor}/cmdline").read_bytes()
    for pid in pids:
        assert Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1] == str(supervisor)  # its child
        # no interpreter was exec'd for it: it runs the supervisor's image, imports and all
        assert Path(f"/proc/{pid}/cmdline").read_bytes() == supervisor_cmdline
        pss, rss = _pss_rss_kib(pid)
        assert pss < rss * 0.75, (pid, pss, rss)  # most of its pages are shared with the supervisor (copy-on-write)
    backend.delete_pool("forked")
    assert home_processes(home) == []
    backend.close()
