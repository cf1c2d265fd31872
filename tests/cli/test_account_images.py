"""`pool listskus` / `account images` with an Azure Batch account: the account's own list
(``list_supported_images``, through the real SDK to the local HTTPS server), and which source it is."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.azure_server import AzureTestServer, Reply, serve

IMAGES = [
    {"nodeAgentSKUId": "batch.node.ubuntu 22.04", "osType": "linux", "verificationType": "verified",
     "imageReference": {"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts",
                        "version": "latest"},
     "capabilities": ["DockerCompatible", "NvidiaTeslaDriverInstalled"], "batchSupportEndOfLife": "2027-06-30T00:00:00Z"},
    {"nodeAgentSKUId": "batch.node.ubuntu 20.04", "osType": "linux", "verificationType": "verified",
     "imageReference": {"publisher": "canonical", "offer": "0001-com-ubuntu-server-focal", "sku": "20_04-lts",
                        "version": "latest"}, "batchSupportEndOfLife": "2025-04-30T00:00:00Z"},
    {"nodeAgentSKUId": "batch.node.debian 12", "osType": "linux", "verificationType": "unverified",
     "imageReference": {"publisher": "debian", "offer": "debian-12", "sku": "12", "version": "latest"}},
]


@pytest.fixture
def account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write_config) -> Iterator[tuple[AzureTestServer, Path]]:
    for server in serve(tmp_path, monkeypatch):
        server.route("GET", "/supportedimages", lambda r, m: Reply(200, {"value": IMAGES}))
        configdir = write_config(credentials=f"""
            credentials:
              batch:
                account_service_url: {server.url}
            """)
        yield server, configdir


@pytest.mark.parametrize("command", [("pool", "listskus"), ("account", "images")])
def test_the_accounts_own_list(cli, account, command: tuple[str, str]) -> None:
    server, configdir = account
    result = cli(*command, "--configdir", configdir, "--raw")
    assert result.code == 0, result.err
    rows = {row["node_agent"]: row for row in result.json()}
    assert set(rows) == {"batch.node.ubuntu 22.04", "batch.node.ubuntu 20.04", "batch.node.debian 12"}
    jammy = rows["batch.node.ubuntu 22.04"]
    assert (jammy["source"], jammy["verification"], jammy["warning"]) == ("Batch account '127'", "verified", None)
    assert jammy["capabilities"] == ["DockerCompatible", "NvidiaTeslaDriverInstalled"]
    assert jammy["batch_support_end_of_life"] == "2027-06-30"
    assert rows["batch.node.ubuntu 20.04"]["warning"] == "Batch support ended on 2025-04-30"
    assert rows["batch.node.debian 12"]["warning"].startswith("unverified")
    request = server.sent("GET", "/supportedimages")[0]
    assert request.api_version == "2025-06-01" and request.authorization.startswith("Bearer ")


def test_the_table_names_its_source_and_warns(cli, account) -> None:
    _server, configdir = account
    result = cli("pool", "listskus", "--configdir", configdir)
    assert result.code == 0
    assert result.out.splitlines()[0] == "source: Batch account '127'"
    assert "warning: batch.node.ubuntu 20.04" in result.err and "Batch support ended" in result.err
    assert "warning: batch.node.debian 12" in result.err and "unverified" in result.err
    assert "token-" not in result.out + result.err


def test_without_an_account_the_catalogue_says_so(cli) -> None:
    result = cli("pool", "listskus")
    assert result.out.splitlines()[0] == "source: bundled catalogue (no Azure Batch account configured)"


def test_an_account_that_refuses_is_one_line(cli, account) -> None:
    server, configdir = account
    server.route("GET", "/supportedimages", lambda r, m: Reply(403, {"code": "AuthorizationFailure", "message": {
        "lang": "en-US", "value": "This request is not authorized to perform this operation."}}))
    result = cli("pool", "listskus", "--configdir", configdir)
    assert result.code == 1 and len(result.err.strip().splitlines()) <= 2
    assert "refused the credentials" in result.err and "Traceback" not in result.err
