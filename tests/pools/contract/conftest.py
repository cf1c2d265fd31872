"""The backends the contract runs against: the local backend, and the Azure Batch backend over the
Batch emulator (``tests/fixtures/batch_service.py``), through the real ``BatchClient`` and Entra ID
tokens from the test server's managed-identity endpoint.

On the emulator the nodes are directories of this machine, which is no custom image: shipyard's node
prep would rightly refuse it. The Azure harness's pools therefore run a start task of its own (it
says so on stdout), and node prep's start task is tested where it is made
(``tests/pools/azure_batch/test_nodeprep.py``) and where it runs (``tests/node/test_bundle.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.pools import PoolFiles
from shipyard.pools.models import PoolSpec
from shipyard.pools.protocol import PoolBackend

BACKENDS = ["local", "azure"]
GALLERY_IMAGE = ("/subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.Compute/galleries/gal/images/ubuntu"
                 "/versions/1.0.0")


@dataclass
class Harness:
    backend: PoolBackend
    spec: Callable[..., PoolSpec]  # spec(pool_id, dedicated=1, ...): a pool the backend can run
    startup_marker: bytes  # what a node's start task writes to startup/stdout.txt


def _local(home: Path, pool_files: PoolFiles, ubuntu_vhd: Path) -> tuple[PoolBackend, Callable[..., PoolSpec], bytes]:
    from shipyard.pools.local.backend import LocalBackend

    uri = pool_files.upload(ubuntu_vhd)

    def spec(pool_id: str, **options: object) -> PoolSpec:
        return pool_files.spec(pool_id, [uri], **options)  # type: ignore[arg-type]

    return LocalBackend(str(home)), spec, b"node prep: ok"


def _azure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stack: list) -> tuple[PoolBackend, Callable[..., PoolSpec], bytes]:
    from fixtures.azure_server import serve
    from fixtures.batch_service import BatchService
    from shipyard.config.credentials import Credentials
    from shipyard.pools.azure_batch.backend import AzureBatchBackend
    from shipyard.pools.azure_batch.client import open_session
    from shipyard.pools.azure_batch.to_sdk import StartTaskPlan
    from shipyard.pools.models import ImageSource, NodeFillType

    servers = serve(tmp_path, monkeypatch)
    server = next(servers)
    service = BatchService(server, tmp_path / "batch-nodes")
    stack.extend([lambda: service.close(), lambda: next(servers, None)])
    credentials = Credentials.model_validate({"batch": {"account_service_url": server.url}})
    plan = StartTaskPlan("/bin/sh -c 'echo start task: ok'")
    backend = AzureBatchBackend(open_session(credentials), lambda spec: plan, poll_s=0.05)

    def spec(pool_id: str, *, dedicated: int = 1, low_priority: int = 0, slots: int = 1, fill: str = "spread") -> PoolSpec:
        return PoolSpec(pool_id, "STANDARD_D2S_V3", ImageSource("batch.node.ubuntu 22.04", arm_image_id=GALLERY_IMAGE),
                        dedicated=dedicated, low_priority=low_priority, max_tasks_per_node=slots,
                        node_fill_type=NodeFillType(fill))

    return backend, spec, b"start task: ok"


@pytest.fixture(params=BACKENDS)
def harness(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    cleanup: list[Callable[[], object]] = []
    if request.param == "local":
        made = _local(request.getfixturevalue("home"), request.getfixturevalue("pool_files"),
                      request.getfixturevalue("ubuntu_vhd"))
    elif request.param == "azure":
        made = _azure(tmp_path, monkeypatch, cleanup)
    else:  # pragma: no cover - a backend named in BACKENDS without its set-up
        raise AssertionError(f"no harness for backend {request.param}")
    backend, spec, marker = made
    try:
        yield Harness(backend, spec, marker)
    finally:
        try:
            for pool in backend.list_pools():
                backend.delete_pool(pool.id)
            backend.close()
        finally:
            for step in reversed(cleanup):
                step()
