"""`pool add`'s checks on Azure before any allocation: the account and the image read through the
real management SDKs (``azure-mgmt-batch``, ``azure-mgmt-compute``) from the local HTTPS server."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.azure_server import AzureTestServer, Reply, arm_error, serve
from shipyard.config.credentials import Credentials
from shipyard.errors import BackendError
from shipyard.pools.azure_batch.preflight import preflight, vm_cores
from shipyard.pools.models import ImageSource, PoolSpec
from shipyard.results import Status

SUB, RG = "sub-1", "rg-batch"
GALLERY = f"/subscriptions/{SUB}/resourceGroups/rg-img/providers/Microsoft.Compute/galleries/gal/images/ubuntu"
VERSION = f"{GALLERY}/versions/1.0.0"
KEY = base64.b64encode(b"batch-account-key-for-tests-0123").decode()


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AzureTestServer]:
    yield from serve(tmp_path, monkeypatch)


def arm(server: AzureTestServer, *, modes=("SharedKey", "AAD"), regions=("westeurope",), os_type="Linux",
        os_state="Generalized", dedicated=100, spot=50,
        permissions=({"actions": ["Microsoft.Compute/*"], "notActions": []},)) -> None:
    server.route("GET", f"{VERSION}/providers/Microsoft.Authorization/permissions", lambda r, m: Reply(
        200, {"value": list(permissions)}))
    server.route("GET", "/supportedimages", lambda r, m: Reply(200, {"value": [
        {"nodeAgentSKUId": "batch.node.ubuntu 22.04", "osType": "linux", "verificationType": "verified",
         "imageReference": {"publisher": "canonical", "offer": "jammy", "sku": "22_04-lts"}},
        {"nodeAgentSKUId": "batch.node.ubuntu 20.04", "osType": "linux", "verificationType": "verified",
         "imageReference": {"publisher": "canonical", "offer": "focal", "sku": "20_04-lts"},
         "batchSupportEndOfLife": "2025-04-30T00:00:00Z"},
        {"nodeAgentSKUId": "batch.node.debian 12", "osType": "linux", "verificationType": "unverified",
         "imageReference": {"publisher": "debian", "offer": "debian-12", "sku": "12"}}]}))
    account = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Batch/batchAccounts/127"
    server.route("GET", account, lambda r, m: Reply(200, {
        "id": account, "name": "127", "location": "westeurope", "type": "Microsoft.Batch/batchAccounts",
        "properties": {"accountEndpoint": "127.westeurope.batch.azure.com", "poolAllocationMode": "BatchService",
                       "allowedAuthenticationModes": list(modes), "dedicatedCoreQuota": dedicated,
                       "lowPriorityCoreQuota": spot}}))
    server.route("GET", GALLERY, lambda r, m: Reply(200, {
        "id": GALLERY, "name": "ubuntu", "location": "westeurope",
        "properties": {"osType": os_type, "osState": os_state, "hyperVGeneration": "V2",
                       "identifier": {"publisher": "shipyard", "offer": "ubuntu-22.04", "sku": "v2-x64"}}}))
    server.route("GET", f"{GALLERY}/versions/1.0.0", lambda r, m: Reply(200, {
        "id": VERSION, "name": "1.0.0", "location": "westeurope",
        "properties": {"provisioningState": "Succeeded",
                       "publishingProfile": {"targetRegions": [{"name": n, "regionalReplicaCount": 1} for n in regions]},
                       "storageProfile": {"osDiskImage": {"source": {
                           "uri": "https://acct1.blob.core.windows.net/vhds/ubuntu.vhd",
                           "storageAccountId": "/subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct1"}}}}}))
    server.route("GET", f"{GALLERY}/versions", lambda r, m: Reply(200, {"value": [
        {"id": f"{GALLERY}/versions/{v}", "name": v, "location": "westeurope", "properties": {
            "publishingProfile": {"excludeFromLatest": v == "2.0.0"}}} for v in ("0.9.0", "1.0.0", "2.0.0")]}))


def credentials(server: AzureTestServer, *, key: str | None = None) -> Credentials:
    batch = {"account_service_url": server.url, "resource_group": RG, **({"account_key": key} if key else {})}
    return Credentials.model_validate({"batch": batch, "management": {
        "subscription_id": SUB, "resource_manager_url": server.url}})


def spec(image: str = VERSION, node_agent: str = "batch.node.ubuntu 22.04", dedicated: int = 4) -> PoolSpec:
    return PoolSpec("p", "Standard_NC24ads_A100_v4", ImageSource(node_agent, arm_image_id=image), dedicated=dedicated,
                    low_priority=2)


def by_id(found) -> dict[str, tuple[Status, str]]:
    return {r.id: (r.status, r.message) for r in found.results}


def test_everything_readable_passes(server: AzureTestServer) -> None:
    arm(server)
    found = preflight(credentials(server), spec())
    got = by_id(found)
    assert got["azure.auth"] == (Status.PASS, "Microsoft Entra ID, which the account allows")
    assert got["azure.node_agent_os"][0] is Status.PASS
    assert got["azure.node_agent_support"] == (Status.PASS, "node agent batch.node.ubuntu 22.04, which the account supports")
    assert got["azure.replica_region"] == (Status.PASS, "a replica in westeurope")
    assert got["azure.generalized"][0] is Status.PASS
    assert got["azure.core_quota"] == (Status.PASS, "96 dedicated and 48 Spot cores within the quotas (100 and 50)")
    assert got["azure.image_access"] == (Status.PASS, "the principal holds Microsoft.Compute/disks/beginGetAccess/action")
    permissions = server.sent("GET", "Microsoft.Authorization/permissions")[0]
    assert permissions.api_version == "2022-04-01" and permissions.authorization.startswith("Bearer ")
    assert found.source_uri == "https://acct1.blob.core.windows.net/vhds/ubuntu.vhd"
    account = server.sent("GET", "batchAccounts")[0]
    assert account.api_version and account.authorization.startswith("Bearer ")
    assert server.sent("GET", r"/versions/1\.0\.0$")[0].authorization.startswith("Bearer ")


def test_each_problem_is_one_line(server: AzureTestServer) -> None:
    arm(server, modes=("SharedKey",), regions=("northeurope",), os_type="Windows", os_state="Specialized", dedicated=10)
    got = by_id(preflight(credentials(server), spec()))
    assert got["azure.auth"] == (Status.FAIL, "the account allows only sharedkey: no Microsoft Entra ID")
    assert got["azure.node_agent_os"] == (
        Status.FAIL, "node agent batch.node.ubuntu 22.04 is for linux, the image definition is windows")
    assert got["azure.replica_region"] == (
        Status.FAIL, "no replica in the Batch account's region westeurope (replicas: northeurope)")
    assert got["azure.generalized"][0] is Status.WARN
    assert got["azure.core_quota"] == (
        Status.FAIL, "the pool needs 96 dedicated and 48 Spot cores; the account's quotas are 10 and 50")


@pytest.mark.parametrize("grants", [
    ({"actions": ["*/read"], "notActions": []},),  # Reader is not enough
    ({"actions": ["*"], "notActions": ["Microsoft.Compute/disks/*"]},),
])
def test_a_principal_that_cannot_read_the_image_fails(server: AzureTestServer, grants) -> None:
    arm(server, permissions=grants)
    got = by_id(preflight(credentials(server), spec()))
    assert got["azure.image_access"] == (
        Status.FAIL, "the principal lacks Microsoft.Compute/disks/beginGetAccess/action on the image (Reader is not enough)")


def test_permissions_it_may_not_read_skip_the_check(server: AzureTestServer) -> None:
    arm(server)
    server.route("GET", f"{VERSION}/providers/Microsoft.Authorization/permissions",
                 lambda r, m: arm_error(403, "AuthorizationFailed", "no"))
    got = by_id(preflight(credentials(server), spec()))
    assert got["azure.image_access"][0] is Status.SKIP and "cannot read their permissions" in got["azure.image_access"][1]


def test_shared_key_is_warned_before_anything_is_sent(server: AzureTestServer) -> None:
    arm(server)
    got = by_id(preflight(credentials(server, key=KEY), spec()))
    assert got["azure.auth"][0] is Status.WARN and "refuses pools from a Compute Gallery image" in got["azure.auth"][1]
    assert server.sent("POST") == []


@pytest.mark.parametrize(("agent", "status", "message"), [
    ("batch.node.ubuntu 20.04", Status.WARN, "node agent batch.node.ubuntu 20.04: Batch support ended on 2025-04-30"),
    ("batch.node.debian 12", Status.WARN, "node agent batch.node.debian 12: unverified by Batch"),
    ("batch.node.centos 7", Status.FAIL, "node agent batch.node.centos 7 is not one the Batch account supports"),
])
def test_the_node_agent_against_the_accounts_list(server: AzureTestServer, agent: str, status: Status, message: str) -> None:
    arm(server)
    got = by_id(preflight(credentials(server), spec(node_agent=agent)))
    assert got["azure.node_agent_support"][0] is status and got["azure.node_agent_support"][1].startswith(message)


def test_a_definition_means_its_latest_version(server: AzureTestServer) -> None:
    arm(server)
    found = preflight(credentials(server), spec(GALLERY))
    assert by_id(found)["azure.replica_region"][0] is Status.PASS
    assert server.sent("GET", r"/versions/1\.0\.0$")  # 2.0.0 is excluded from latest


def test_without_a_management_plane_the_checks_say_why(server: AzureTestServer) -> None:
    arm(server)
    plain = Credentials.model_validate({"batch": {"account_service_url": server.url}})
    got = by_id(preflight(plain, spec()))
    for rule in ("azure.node_agent_os", "azure.replica_region", "azure.core_quota", "azure.image_access"):
        assert got[rule][0] is Status.SKIP and "credentials.management.subscription_id" in got[rule][1], rule
    assert got["azure.node_agent_support"][0] is Status.PASS  # the data plane's own list
    assert [r.path for r in server.sent()] == ["/supportedimages"]  # nothing asked of the management plane


def test_a_missing_image_is_one_line(server: AzureTestServer) -> None:
    arm(server)
    server.route("GET", GALLERY, lambda r, m: arm_error(404, "ResourceNotFound", "The Resource 'ubuntu' was not found."))
    with pytest.raises(BackendError) as caught:
        preflight(credentials(server), spec())
    assert str(caught.value).startswith(f"reading gallery image {VERSION}") and "\n" not in str(caught.value)


@pytest.mark.parametrize(("size", "cores"), [("Standard_NC24ads_A100_v4", 24), ("STANDARD_D2S_V3", 2),
                                             ("Standard_HB120rs_v3", 120), ("nonsense", None)])
def test_cores_from_the_size_name(size: str, cores: int | None) -> None:
    assert vm_cores(size) == cores
