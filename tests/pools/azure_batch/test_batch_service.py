"""The Batch emulator's pools, nodes, start tasks, node files, supported images, auth and close,
driven only through the real ``BatchClient``."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from fixtures.azure_server import Reply
from fixtures.batch_client import POLL, nodes_in, pool_options, read, ready_pool, until
from fixtures.batch_service import BatchService

ECHO_ENV = "/bin/sh -c 'echo node=$AZ_BATCH_NODE_ID pool=$AZ_BATCH_POOL_ID wd=$AZ_BATCH_TASK_WORKING_DIR mine=$MINE'"


def test_pool_lifecycle_nodes_run_a_real_start_task(batch) -> None:
    server, service, client = batch
    start = m.BatchStartTask(command_line=ECHO_ENV, wait_for_success=True,
                             environment_settings=[m.EnvironmentSetting(name="MINE", value="x y")])
    client.create_pool(pool_options("p1", 2, start, task_slots_per_node=2,
                                    task_scheduling_policy=m.BatchTaskSchedulingPolicy(node_fill_type="pack")))
    created = server.sent("POST", r"^/pools$")[0]
    assert created.json["virtualMachineConfiguration"]["nodeAgentSKUId"] == "batch.node.ubuntu 22.04"

    nodes = until(lambda: nodes_in(client, "p1", 2, "idle"), "two idle nodes")
    pool = client.get_pool("p1")
    assert (pool.state, pool.allocation_state, pool.current_dedicated_nodes, pool.target_dedicated_nodes) == (
        "active", "steady", 2, 2)
    assert pool.task_slots_per_node == 2 and pool.task_scheduling_policy.node_fill_type == "pack"
    assert pool.virtual_machine_configuration.image_reference.virtual_machine_image_id.endswith("/versions/1.0.0")
    assert [p.id for p in client.list_pools()] == ["p1"] and client.pool_exists("p1")
    for node in nodes:
        assert node.id.startswith("tvmps_") and node.is_dedicated
        info = node.start_task_info
        assert (info.state, info.exit_code, info.result, info.retry_count) == ("completed", 0, "success", 0)
        assert info.start_time <= info.end_time
        out = read(client.download_node_file("p1", node.id, "startup/stdout.txt"))
        wd = service.root / "p1" / node.id / "startup" / "wd"
        assert out == f"node={node.id} pool=p1 wd={wd} mine=x y\n"
        props = client.get_node_file_properties("p1", node.id, "startup/stdout.txt")
        assert props.content_length == len(out) and not props.is_directory
    names = {f.name: f.is_directory for f in client.list_node_files("p1", nodes[0].id, recursive=True)}
    assert names["startup"] and names["startup/wd"] and not names["startup/stdout.txt"]
    assert {f.name for f in client.list_node_files("p1", nodes[0].id)} >= {"startup", "shared", "workitems"}

    with pytest.raises(ResourceExistsError) as exists:
        client.create_pool(pool_options("p1", 1))
    assert exists.value.error.code == "PoolExists"

    client.begin_delete_pool("p1", polling_interval=POLL).result()
    with pytest.raises(ResourceNotFoundError) as gone:
        client.get_pool("p1")
    assert gone.value.error.code == "PoolNotFound"
    assert not (service.root / "p1").exists() and list(client.list_pools()) == []


def test_failing_start_task_leaves_the_node_starttaskfailed(batch) -> None:
    _, _, client = batch
    start = m.BatchStartTask(command_line="/bin/sh -c 'echo broken >&2; exit 3'", max_task_retry_count=1,
                             wait_for_success=True)
    client.create_pool(pool_options("bad", 1, start))
    node = until(lambda: nodes_in(client, "bad", 1, "starttaskfailed"), "a starttaskfailed node")[0]
    info = node.start_task_info
    assert (info.state, info.exit_code, info.result, info.retry_count) == ("completed", 3, "failure", 1)
    assert info.failure_info.code == "FailureExitCode" and info.failure_info.category == "usererror"
    assert read(client.download_node_file("bad", node.id, "startup/stderr.txt")) == "broken\nbroken\n"


def test_start_task_downloads_its_resource_files(batch) -> None:
    server, _, client = batch
    server.route("GET", r"/blobs/tool\.sh", lambda request, match: Reply(200, b"#!/bin/sh\necho tool ran in $PWD\n"))
    url = f"{server.url}/blobs/tool.sh?sv=2024&sig=secret-signature"
    start = m.BatchStartTask(command_line="./bin/tool.sh", wait_for_success=True,
                             resource_files=[m.ResourceFile(http_url=url, file_path="bin/tool.sh", file_mode="0755")])
    node = ready_pool(client, "rf", 1, start)[0]
    assert read(client.download_node_file("rf", node.id, "startup/stdout.txt")).startswith("tool ran in /")
    assert server.sent("GET", r"^/blobs/tool\.sh$")[0].query["sig"] == "secret-signature"

    missing = m.BatchStartTask(command_line="./x", wait_for_success=True,
                               resource_files=[m.ResourceFile(http_url=f"{server.url}/blobs/none?sig=s", file_path="x")])
    client.create_pool(pool_options("rf2", 1, missing))
    failed = until(lambda: nodes_in(client, "rf2", 1, "starttaskfailed"), "a node whose download failed")[0]
    assert failed.start_task_info.failure_info.code == "BlobNotFound"
    assert "secret" not in failed.start_task_info.failure_info.message and failed.start_task_info.exit_code is None


def test_resize_remove_and_reboot(batch) -> None:
    _, service, client = batch
    start = m.BatchStartTask(command_line="/bin/sh -c 'echo boot >> $AZ_BATCH_NODE_SHARED_DIR/boots'", wait_for_success=True)
    ready_pool(client, "rs", 1, start)
    client.begin_resize_pool("rs", m.BatchPoolResizeOptions(target_dedicated_nodes=3), polling_interval=POLL).result()
    nodes = until(lambda: nodes_in(client, "rs", 3, "idle"), "three idle nodes")
    assert client.get_pool("rs").current_dedicated_nodes == 3

    victim = nodes[0].id
    client.begin_remove_nodes("rs", m.BatchNodeRemoveOptions(node_ids=[victim]), polling_interval=POLL).result()
    pool = client.get_pool("rs")
    assert (pool.allocation_state, pool.current_dedicated_nodes, pool.target_dedicated_nodes) == ("steady", 2, 2)
    assert victim not in {n.id for n in client.list_nodes("rs")} and not (service.root / "rs" / victim).exists()
    with pytest.raises(ResourceNotFoundError) as gone:
        client.get_node("rs", victim)
    assert gone.value.error.code == "NodeNotFound"

    client.begin_resize_pool("rs", m.BatchPoolResizeOptions(target_dedicated_nodes=1), polling_interval=POLL).result()
    (node,) = until(lambda: nodes_in(client, "rs", 1, "idle"), "one node left")
    first_start = node.start_task_info.start_time
    # azure-batch 15.1 cannot send a reboot (or a job terminate) without options: it raises ValueError
    client.begin_reboot_node("rs", node.id, {"nodeRebootOption": "requeue"}, polling_interval=POLL).result()
    rebooted = until(lambda: (n := client.get_node("rs", node.id)).state == "idle" and n.start_task_info.state == "completed"
                     and n.start_task_info.start_time > first_start and n, "the rebooted node idle again")
    assert rebooted.last_boot_time > node.last_boot_time
    assert (service.root / "rs" / node.id / "shared" / "boots").read_text() == "boot\nboot\n"


def test_low_priority_nodes_and_supported_images(batch) -> None:
    _, service, client = batch
    client.create_pool(pool_options("lp", 1, target_low_priority_nodes=2))
    nodes = until(lambda: nodes_in(client, "lp", 3, "idle"), "one dedicated and two spot nodes")
    assert sorted(n.is_dedicated for n in nodes) == [False, False, True]
    pool = client.get_pool("lp")
    assert (pool.current_dedicated_nodes, pool.current_low_priority_nodes) == (1, 2)

    images = list(client.list_supported_images())
    assert {i.node_agent_sku_id for i in images} >= {"batch.node.ubuntu 22.04", "batch.node.el 9"}
    ubuntu = next(i for i in images if i.node_agent_sku_id == "batch.node.ubuntu 22.04")
    assert ubuntu.image_reference.publisher == "canonical" and ubuntu.os_type == "linux"
    assert ubuntu.verification_type == "verified" and ubuntu.batch_support_end_of_life.year == 2027
    service.supported_images = [{"nodeAgentSKUId": "batch.node.debian 12", "osType": "linux", "verificationType": "unverified",
                                 "imageReference": {"publisher": "debian", "offer": "debian-12", "sku": "12", "version": "latest"}}]
    assert [i.node_agent_sku_id for i in client.list_supported_images()] == ["batch.node.debian 12"]


def test_lists_page_with_next_links(batch) -> None:
    server, _, client = batch
    for i in range(5):
        client.create_pool(pool_options(f"pg{i}", 0))
    assert [p.id for p in client.list_pools(max_results=2)] == [f"pg{i}" for i in range(5)]
    assert len(server.sent("GET", r"^/pools$")) == 3


def test_errors_are_typed_sdk_exceptions(batch) -> None:
    server, _, client = batch
    node = ready_pool(client, "e", 1)[0]
    for call, code in ((lambda: client.get_pool("nope"), "PoolNotFound"), (lambda: client.get_node("e", "tvmps_0"), "NodeNotFound"),
                       (lambda: client.get_job("nope"), "JobNotFound"), (lambda: client.get_task("nope", "t"), "JobNotFound")):
        with pytest.raises(ResourceNotFoundError) as error:
            call()
        assert error.value.error.code == code
    for path in ("startup/none.txt", "../../../etc/passwd", "startup/../../../../etc/passwd"):
        with pytest.raises(ResourceNotFoundError) as error:  # a streamed download: the SDK leaves the body unread
            read(client.download_node_file("e", node.id, path))
        assert json.loads(error.value.response.read())["code"] == "FileNotFound"
    with pytest.raises(ResourceNotFoundError):  # azure-batch 15.1 raises for HEAD 404 before pool_exists sees it
        client.pool_exists("nope")

    wrong = BatchClient(server.url, AzureNamedKeyCredential("acct", "d3Jvbmcta2V5LXdyb25nLWtleQ=="))
    with pytest.raises(HttpResponseError) as denied:
        wrong.get_pool("e")
    assert denied.value.status_code == 403 and denied.value.error.code == "AuthenticationFailed"
    wrong.close()


def test_gallery_pools_need_aad_when_asked(tmp_path, batch) -> None:
    server, service, client = batch
    service.gallery_needs_aad = True
    with pytest.raises(HttpResponseError) as denied:
        client.create_pool(pool_options("g", 0))
    assert denied.value.status_code == 403 and denied.value.error.code == "AuthenticationFailed"
    assert "SharedKey is not allowed" in str(denied.value)
    from azure.identity import ManagedIdentityCredential
    with BatchClient(server.url, ManagedIdentityCredential()) as aad:
        aad.create_pool(pool_options("g", 0))
        assert aad.get_pool("g").id == "g"
    assert server.sent("POST", r"^/pools$")[-1].authorization.startswith("Bearer ")


def test_run_hook_gets_argv_not_a_shell_line(tmp_path, batch) -> None:
    server, service, client = batch
    seen: list[list[str]] = []

    def run(argv, cwd, env, stdout, stderr) -> subprocess.Popen[bytes]:
        seen.append(argv)
        return subprocess.Popen(argv, cwd=cwd, env=env, stdout=stdout, stderr=stderr, start_new_session=True)

    hooked = BatchService(server, tmp_path / "hooked", run)
    try:
        service.close()  # the fixture's service stands down: the hooked one answers from here
        start = m.BatchStartTask(command_line="/bin/echo 'a  b' $HOME", wait_for_success=True)
        node = ready_pool(client, "h", 1, start)[0]
        assert seen == [["/bin/echo", "a  b", "$HOME"]]
        assert read(client.download_node_file("h", node.id, "startup/stdout.txt")) == "a  b $HOME\n"
    finally:
        hooked.close()


def test_close_kills_every_process(batch) -> None:
    _, service, client = batch
    start = m.BatchStartTask(command_line="/bin/sh -c 'echo $$ > pid; exec sleep 300'", wait_for_success=True)
    client.create_pool(pool_options("k", 2, start))
    nodes = until(lambda: nodes_in(client, "k", 2, "waitingforstarttask"), "two nodes in their start task")
    pid_files = [service.root / "k" / n.id / "startup" / "wd" / "pid" for n in nodes]
    pids = until(lambda: all(p.exists() and p.read_text().strip() for p in pid_files)
                 and [int(p.read_text()) for p in pid_files], "the start tasks' pids")
    for pid in pids:
        assert os.path.exists(f"/proc/{pid}")
    service.close()
    assert not service.processes.live
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}")
