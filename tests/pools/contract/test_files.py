"""The contract for files: a node's, relative to its root, and a task's, relative to its directory."""

from __future__ import annotations

import pytest

from fixtures.pools import finished_tasks, idle_nodes
from shipyard.errors import BackendError, NotFoundError
from shipyard.pools.models import JobSpec, TaskSpec


def test_node_and_task_files_are_listed_and_read(harness) -> None:
    backend = harness.backend
    backend.add_pool(harness.spec("files-pool", dedicated=1))
    node = idle_nodes(backend, "files-pool", 1)[0]
    names = {f.name: f for f in backend.list_node_files("files-pool", node.id)}
    assert {"shared", "startup", "workitems"} <= set(names) and names["startup"].is_directory
    startup = {f.name for f in backend.list_node_files("files-pool", node.id, "startup")}
    assert {"startup/stdout.txt", "startup/stderr.txt"} <= startup
    assert harness.startup_marker in backend.read_node_file("files-pool", node.id, "startup/stdout.txt")

    backend.add_job(JobSpec("files-job", "files-pool", tasks=(TaskSpec("t1", "/bin/sh -c 'echo out; echo err >&2'"),)))
    task = finished_tasks(backend, "files-job")["t1"]
    listed = {f.name: f for f in backend.list_task_files("files-job", "t1")}
    assert {"stdout.txt", "stderr.txt", "wd"} <= set(listed) and listed["wd"].is_directory
    assert listed["stdout.txt"].size_bytes == 4
    assert backend.read_task_file("files-job", "t1", "stdout.txt") == b"out\n"
    assert backend.read_task_file("files-job", "t1", "stderr.txt") == b"err\n"
    assert task.node_id == node.id
    path = "workitems/files-job/job-1/t1/stdout.txt"
    assert backend.read_node_file("files-pool", node.id, path) == b"out\n"


def test_paths_stay_inside_and_missing_files_are_not_found(harness) -> None:
    backend = harness.backend
    backend.add_pool(harness.spec("files-pool2", dedicated=1))
    node = idle_nodes(backend, "files-pool2", 1)[0]
    backend.add_job(JobSpec("files-job2", "files-pool2", tasks=(TaskSpec("t1", "/bin/true"),)))
    finished_tasks(backend, "files-job2")
    escapes = [lambda: backend.read_node_file("files-pool2", node.id, "../../../../etc/passwd"),
               lambda: backend.read_node_file("files-pool2", node.id, "/etc/passwd"),
               lambda: backend.list_node_files("files-pool2", node.id, "startup/../.."),
               lambda: backend.read_task_file("files-job2", "t1", "../../../../startup/stdout.txt"),
               lambda: backend.list_task_files("files-job2", "t1", "..")]
    missing = [lambda: backend.read_node_file("files-pool2", node.id, "startup/nope.txt"),
               lambda: backend.read_task_file("files-job2", "t1", "nope.txt"),
               lambda: backend.list_node_files("files-pool2", "no-such-node"),
               lambda: backend.list_task_files("files-job2", "no-such-task")]
    for call in escapes + missing:
        with pytest.raises(BackendError) as caught:
            call()
        assert isinstance(caught.value, NotFoundError), caught.value
        assert "\n" not in str(caught.value)
