"""The Batch emulator's own tests: a ``batch`` fixture (server, service, client).

The client is the real ``azure.batch.BatchClient`` with a shared key; the service verifies the
signature, so every request the tests make is one the SDK signed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.batch import BatchClient
from azure.core.credentials import AzureNamedKeyCredential

from fixtures.azure_server import AzureTestServer, serve
from fixtures.batch_client import KEY
from fixtures.batch_service import BatchService


@pytest.fixture
def batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[AzureTestServer, BatchService, BatchClient]]:
    servers = serve(tmp_path, monkeypatch)
    server = next(servers)
    service = BatchService(server, tmp_path / "nodes", account_key=KEY)
    client = BatchClient(server.url, AzureNamedKeyCredential("acct", KEY))
    try:
        yield server, service, client
    finally:
        client.close()
        service.close()
        next(servers, None)
