"""The start task: node prep on the image's facts (read once per VHD), additional_node_prep's
commands, Azure File volumes linked from the local store, and a reboot that runs it again."""

from __future__ import annotations

import json
from pathlib import Path

from fixtures.pools import build_ubuntu_vhd, finished_tasks, idle_nodes, settled_nodes
from fixtures.trees import write_executables
from shipyard.pools.models import JobSpec, NodeState, TaskResult, TaskSpec

VOLUME = """
global_resources:
  volumes:
    shared_data_volumes:
      scratch:
        volume_driver: azurefile
        storage_account_settings: localsa
        azure_file_share_name: scratch
        container_path: /scratch
"""


def test_the_image_is_read_once_per_vhd_and_every_node_runs_its_start_task(
        backend, pool_files, ubuntu_vhd) -> None:
    first, second = pool_files.upload(ubuntu_vhd, "one.vhd"), pool_files.upload(ubuntu_vhd, "two.vhd")
    backend.add_pool(pool_files.spec("vhds", [first, second], dedicated=4))
    nodes = idle_nodes(backend, "vhds", 4)
    assert sorted(n.image_uri for n in nodes) == sorted([first, first, second, second])
    rows = backend.db.query("SELECT uri, read_by, bytes_read FROM images WHERE pool_id = 'vhds' ORDER BY uri")
    assert [r["uri"] for r in rows] == sorted([first, second]) and all(r["bytes_read"] > 0 for r in rows)
    readers = []
    for node in nodes:
        out = backend.read_node_file("vhds", node.id, "startup/stdout.txt").decode()
        assert "node prep: ok" in out
        if "read " in out.splitlines()[0] and "bytes of the image" in out:
            readers.append(node.id)
        marker = json.loads(backend.read_node_file("vhds", node.id, "volatile/shipyard/nodeprep.json"))
        assert marker["ok"] is True
    assert sorted(readers) == sorted(r["read_by"] for r in rows)  # one reader per VHD


def test_additional_node_prep_commands_run_around_the_set_up(backend, pool_files, tmp_path: Path) -> None:
    with_cifs = build_ubuntu_vhd(tmp_path / "cifs", lambda root: write_executables(root, "/usr/sbin/mount.cifs"))
    spec = pool_files.spec("prep", [pool_files.upload(with_cifs, "cifs.vhd")], dedicated=1, config=VOLUME,
                           pre=("/bin/echo pre $AZ_BATCH_NODE_ID",),
                           post=("/bin/sh -c 'echo post; ls $AZ_BATCH_NODE_SHARED_DIR'",))
    backend.add_pool(spec)
    node = idle_nodes(backend, "prep", 1)[0]
    out = backend.read_node_file("prep", node.id, "startup/stdout.txt").decode().splitlines()
    assert "pre $AZ_BATCH_NODE_ID" in out  # not under a shell
    assert out.index("pre $AZ_BATCH_NODE_ID") < out.index("post") < out.index("azfile-localacct-scratch")
    backend.add_job(JobSpec("job", "prep", tasks=(TaskSpec(
        "t1", "/bin/sh -c 'echo shared > $AZ_BATCH_NODE_SHARED_DIR/azfile-localacct-scratch/hello.txt'"),)))
    assert finished_tasks(backend, "job")["t1"].result == TaskResult.SUCCESS
    share = pool_files.home / "storage" / "localacct" / ".shipyard-files" / "scratch" / "hello.txt"
    assert share.read_text() == "shared\n"  # the volume is the local store's share
    listed = backend.read_node_file("prep", node.id, "shared/azfile-localacct-scratch/hello.txt")
    assert listed == b"shared\n"


def test_a_failing_command_fails_the_start_task_in_one_line(backend, pool_files, ubuntu_vhd) -> None:
    backend.add_pool(pool_files.spec("badprep", [pool_files.upload(ubuntu_vhd)], dedicated=1,
                                     post=("/bin/sh -c 'echo oops >&2; exit 7'",)))
    node = settled_nodes(backend, "badprep", 1)[0]
    assert node.state == NodeState.START_TASK_FAILED and node.start_task.exit_code == 1
    assert node.start_task.failure.message == "additional_node_prep post command 1 ('/bin/sh') exited with code 7"
    assert node.start_task.failed_rules == ()
    assert b"oops" in backend.read_node_file("badprep", node.id, "startup/stderr.txt")


def test_a_reboot_runs_the_start_task_again_and_node_prep_trusts_its_marker(backend, pool_files, ubuntu_vhd) -> None:
    backend.add_pool(pool_files.spec("reboot", [pool_files.upload(ubuntu_vhd)], dedicated=1,
                                     post=("/bin/echo post ran",)))
    node = idle_nodes(backend, "reboot", 1)[0]
    backend.reboot_nodes("reboot", [node.id])
    from fixtures.pools import wait_until

    def rebooted():
        now = settled_nodes(backend, "reboot", 1)[0]
        return now if now.start_task.start_time > node.start_task.start_time else None

    again = wait_until(rebooted, "the start task to run again")
    assert again.state == NodeState.IDLE
    out = backend.read_node_file("reboot", node.id, "startup/stdout.txt").decode()
    assert "node prep: skipped" in out and "post ran" in out
    states = [r["state"] for r in backend.db.query(
        "SELECT state FROM node_events WHERE node_id = ? ORDER BY seq", (node.id,))]
    assert states[-3:] == ["rebooting", "starting", "waitingforstarttask"]
