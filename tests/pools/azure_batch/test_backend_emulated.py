"""The Azure Batch backend over the Batch emulator, for what the local backend has no counterpart
of: a multi-instance task over two nodes; the rules node prep failed, read from the start task's stderr."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.azure_server import serve
from fixtures.batch_client import until
from fixtures.batch_service import BatchService
from shipyard.config.credentials import Credentials
from shipyard.pools.azure_batch.backend import AzureBatchBackend
from shipyard.pools.azure_batch.client import open_session
from shipyard.pools.azure_batch.to_sdk import StartTaskPlan
from shipyard.pools.models import ImageSource, JobSpec, MultiInstance, NodeState, PoolSpec, TaskResult, TaskSpec, TaskState

IMAGE = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/ubuntu/versions/1.0.0"
# what node prep writes when the image fails two rules (the lines of `shipyard node prep`)
FAILING_PREP = ("/bin/sh -c 'echo \"shipyard: node prep: docker.installed: no dockerd in the image; fix: install "
                "docker-ce\" >&2; echo \"shipyard: node prep: ssh.port: sshd listens on 2222; fix: Port 22\" >&2; exit 1'")


def start_task_for(spec: PoolSpec) -> StartTaskPlan:
    return StartTaskPlan(FAILING_PREP, retries=0) if spec.id == "fails" else StartTaskPlan("/bin/true")


@pytest.fixture
def backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AzureBatchBackend]:
    for server in serve(tmp_path, monkeypatch):
        service = BatchService(server, tmp_path / "nodes")
        session = open_session(Credentials.model_validate({"batch": {"account_service_url": server.url}}))
        made = AzureBatchBackend(session, start_task_for, poll_s=0.05)
        try:
            yield made
        finally:
            for pool in made.list_pools():
                made.delete_pool(pool.id)
            made.close()
            service.close()


def test_a_multi_instance_task_runs_over_two_nodes(backend: AzureBatchBackend) -> None:
    backend.add_pool(PoolSpec("mpi", "STANDARD_D2S_V3", ImageSource("batch.node.ubuntu 22.04", arm_image_id=IMAGE),
                              dedicated=2))
    until(lambda: [n for n in backend.list_nodes("mpi") if n.state == NodeState.IDLE][1:], "two idle nodes")
    backend.add_job(JobSpec("j", "mpi", tasks=(TaskSpec(
        "t", "/bin/sh -c 'echo primary on $AZ_BATCH_HOST_LIST'",
        multi_instance=MultiInstance(2, "/bin/sh -c 'echo coordinating'")),)))
    task = until(lambda: (t := backend.get_task("j", "t")).state == TaskState.COMPLETED and t, "the task", timeout=60)
    assert task.result == TaskResult.SUCCESS
    lines = backend.read_task_file("j", "t", "stdout.txt").decode().splitlines()
    primary = [line for line in lines if line.startswith("primary on ")]
    assert "coordinating" in lines and len(primary) == 1
    assert len(primary[0].removeprefix("primary on ").split(",")) == 2  # both nodes in the host list


def test_a_failed_start_task_names_the_rules_node_prep_failed(backend: AzureBatchBackend) -> None:
    backend.add_pool(PoolSpec("fails", "STANDARD_D2S_V3", ImageSource("batch.node.ubuntu 22.04", arm_image_id=IMAGE),
                              dedicated=1))
    node = until(lambda: [n for n in backend.list_nodes("fails") if n.state == NodeState.START_TASK_FAILED],
                 "the start task to fail")[0]
    assert node.start_task is not None and node.start_task.exit_code == 1
    assert [(r.id, r.message, r.fix) for r in node.start_task.failed_rules] == [
        ("docker.installed", "no dockerd in the image", "install docker-ce"),
        ("ssh.port", "sshd listens on 2222", "Port 22")]
