"""``shipyard image publish``, in-process, against the HTTPS test server standing in for Azure
Resource Manager (``fixtures.arm_gallery``) with the VHD uploaded to Azurite, and on the local
backend. The real ``ComputeManagementClient`` sends every request; the tests read what arrived.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.arm_gallery import ArmGallery
from fixtures.azure_server import arm_error, serve

API = "2026-03-03"
SUB = "00000000-1111-2222-3333-444444444444"
GALLERY_PATH = f"/subscriptions/{SUB}/resourceGroups/batchrg/providers/Microsoft.Compute/galleries/shipyard"
DEFINITION = "ubuntu-22.04-gen1-x64"
VERSION_ID = f"{GALLERY_PATH}/images/{DEFINITION}/versions/1.0.0"

pytestmark = pytest.mark.usefixtures("shipyard_home")


@pytest.fixture
def arm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ArmGallery]:
    (tmp_path / "server").mkdir()
    for server in serve(tmp_path / "server", monkeypatch):
        yield ArmGallery(server)


def pool_yaml(uri: str, nodes: int) -> str:
    return textwrap.dedent(f"""\
        # the pool for the gallery tests
        pool_specification:
          id: gpool  # keep this id
          vm_configuration:
            custom_image:
              node_agent: batch.node.ubuntu 22.04
              image_uris:
                - {uri}  # the uploaded image
          vm_size: STANDARD_D2S_V3
          vm_count:
            dedicated: {nodes}
            low_priority: 0
        """)


@pytest.fixture
def azure_config(arm: ArmGallery, azurite, container: str, write_config, cli, ubuntu_vhd: Path):
    """A config dir for an Azure Batch account in westeurope, ARM at the test server, the image
    uploaded to Azurite; returns (configdir, blob uri, its sparse digest)."""
    link = (f"    sa1:\n      account: acct1\n      account_key: {azurite.keys['acct1']}\n"
            f"      blob_endpoint: {azurite.endpoint('acct1')}\n      resource_group: storagerg\n")
    configdir = write_config(credentials=(
        "credentials:\n"
        "  batch:\n    account_service_url: https://mybatch.westeurope.batch.azure.com\n    resource_group: batchrg\n"
        f"  management:\n    subscription_id: {SUB}\n    resource_manager_url: {arm.server.url}\n"
        f"  storage:\n{link}"))
    uploaded = cli("image", "upload", ubuntu_vhd, "--storage-account", "sa1", "--container", container,
                   "--configdir", configdir, "--raw")
    assert uploaded.code == 0, uploaded.err
    uri, digest = uploaded.json()["uri"], uploaded.json()["sparse_sha256"]
    (configdir / "pool.yaml").write_text(pool_yaml(uri, 700))
    return configdir, uri, digest


def _secret_free(arm: ArmGallery, *texts: str) -> None:
    assert arm.server.tokens_issued
    for token in arm.server.tokens_issued:
        for text in texts:
            assert token not in text


def test_publish_creates_gallery_definition_and_version_then_updates_the_pool(arm, azure_config, cli) -> None:
    configdir, uri, digest = azure_config
    result = cli("image", "publish", "--configdir", configdir, "--version", "1.0.0", "--region", "North Europe",
                 "--poll-interval", "0", "--update-pool", "-y", "--raw", "-vv")
    assert result.code == 0, result.err
    data = result.json()
    assert data["arm_image_id"] == VERSION_ID and data["outcome"] == "created"
    assert data["created"] == ["gallery", "definition"]
    assert data["status"]["provisioning_state"] == "Succeeded"
    assert [r["progress"] for r in data["status"]["regions"]] == [100, 100]

    puts = arm.server.sent("PUT")
    assert [r.path for r in puts] == [GALLERY_PATH, f"{GALLERY_PATH}/images/{DEFINITION}", VERSION_ID]
    assert {r.api_version for r in arm.server.sent()} == {API}
    assert puts[0].json == {"location": "westeurope", "properties": {"description": "Images published by shipyard"}}
    definition = puts[1].json["properties"]
    assert definition["osType"] == "Linux" and definition["osState"] == "Generalized"
    assert definition["hyperVGeneration"] == "V1" and definition["architecture"] == "x64"
    assert definition["identifier"] == {"publisher": "shipyard", "offer": "ubuntu-22.04", "sku": DEFINITION}
    version = puts[2].json
    assert version["location"] == "westeurope"
    assert version["properties"]["storageProfile"] == {"osDiskImage": {"source": {
        "uri": uri, "storageAccountId": f"/subscriptions/{SUB}/resourceGroups/storagerg/providers/"
                                        "Microsoft.Storage/storageAccounts/acct1"}}}
    assert version["properties"]["publishingProfile"] == {"replicaCount": 3, "targetRegions": [
        {"name": "westeurope", "regionalReplicaCount": 3}, {"name": "northeurope", "regionalReplicaCount": 3}]}
    tags = version["tags"]
    assert tags["shipyard_sparse_sha256"] == digest and tags["shipyard_source"] == uri
    from shipyard import __version__

    assert tags["shipyard_version"] == __version__
    passed = ",".join(v for k, v in sorted(tags.items()) if k.startswith("shipyard_rules_passed")).split(",")
    checked = cli("image", "check", uri, "--configdir", configdir, "--raw").json()["checks"]
    assert sorted(passed) == sorted(c["id"] for c in checked if c["status"] == "pass")
    assert all(len(v) <= 256 for v in tags.values()) and len(tags) <= 50
    assert any(r.query.get("$expand") == "ReplicationStatus" for r in arm.server.sent("GET", r"/versions/1\.0\.0$"))

    for request in arm.server.sent():
        assert re.fullmatch(r"Bearer token-\d+-for-\w+", request.authorization)
    _secret_free(arm, result.out, result.err)

    text = (configdir / "pool.yaml").read_text()
    assert f"arm_image_id: {VERSION_ID}" in text and "image_uris" not in text
    for comment in ("# the pool for the gallery tests", "# keep this id"):
        assert comment in text
    again = cli("image", "publish", "--configdir", configdir, "--version", "1.0.0", "--source", uri, "--raw")
    assert again.code == 0, again.err
    assert again.json()["outcome"] == "existing" and len(arm.server.sent("PUT")) == 3


def test_an_interrupted_wait_resumes_without_a_second_put(arm, azure_config, cli) -> None:
    configdir, _, _ = azure_config
    arm.hold = True
    first = cli("image", "publish", "--configdir", configdir, "--no-wait", "--raw")
    assert first.code == 0, first.err
    version = first.json()["plan"]["version"]
    assert first.json()["outcome"] == "accepted" and re.fullmatch(r"\d{4}\.\d{3,4}\.1", version)
    arm.hold, arm.steps = False, 4
    second = cli("image", "publish", "--configdir", configdir, "--poll-interval", "0", "--raw")  # finds it by its tags
    assert second.code == 0, second.err
    assert second.json()["outcome"] == "resumed" and second.json()["plan"]["version"] == version
    assert second.json()["status"]["provisioning_state"] == "Succeeded"
    assert len(arm.server.sent("PUT", r"/versions/")) == 1


def test_dry_run_prints_every_request_and_sends_nothing(arm, azure_config, cli) -> None:
    configdir, _, _ = azure_config
    before = (configdir / "pool.yaml").read_text()
    shown = cli("image", "publish", "--configdir", configdir, "--version", "1.0.0", "--dry-run", "--update-pool")
    assert shown.code == 0, shown.err
    assert f"PUT {VERSION_ID}?api-version={API}" in shown.out and f"PUT {GALLERY_PATH}?api-version" in shown.out
    assert '"storageAccountId"' in shown.out and "dry run: nothing sent" in shown.out
    raw = cli("image", "publish", "--configdir", configdir, "--version", "1.0.0", "--dry-run", "--raw")
    requests = raw.json()["requests"]
    assert [r["method"] for r in requests] == ["PUT"] * 3
    assert requests[2]["body"]["properties"]["publishingProfile"]["replicaCount"] == 3
    assert arm.server.sent() == [] and not arm.server.tokens_issued
    assert (configdir / "pool.yaml").read_text() == before


def test_the_services_validation_error_is_one_line(arm, azure_config, cli) -> None:
    configdir, _, _ = azure_config
    arm.fail_put = arm_error(400, "InvalidParameter", "The value 300 of regionalReplicaCount is more than the "
                             "maximum allowed (100) in region westeurope.")
    result = cli("image", "publish", "--configdir", configdir, "--version", "1.0.0", "--nodes-per-replica", "2")
    assert result.code == 1
    assert "InvalidParameter" in result.err and "maximum allowed (100)" in result.err
    assert result.err.count("\n") <= 2
    assert arm.server.sent("PUT", r"/versions/")[0].json["properties"]["publishingProfile"]["replicaCount"] == 350
    _secret_free(arm, result.out, result.err)


def test_a_definition_with_other_fields_is_refused(arm, azure_config, cli) -> None:
    configdir, _, _ = azure_config
    key = f"{GALLERY_PATH}/images/{DEFINITION}".lower()
    arm.galleries[GALLERY_PATH.lower()] = {"location": "westeurope", "properties": {}}
    arm.definitions[key] = {"location": "westeurope", "properties": {
        "osType": "Linux", "osState": "Generalized", "hyperVGeneration": "V2",
        "identifier": {"publisher": "p", "offer": "o", "sku": "s"}}}
    result = cli("image", "publish", "--configdir", configdir, "--version", "1.0.0")
    assert result.code == 2 and "hyperVGeneration V2 (this image: V1)" in result.err
    assert arm.server.sent("PUT") == []


@pytest.mark.parametrize(("args", "message"), [
    (("--version", "1.2"), "MAJOR.MINOR.PATCH"),
    (("--source", "https://other.blob.core.windows.net/vhds/x.vhd"), "in none of the credentials' storage links"),
    (("--gallery", "bad/name"), "--gallery"),
])
def test_bad_input_is_one_line_with_exit_2(arm, azure_config, cli, args, message) -> None:
    configdir, _, _ = azure_config
    result = cli("image", "publish", "--configdir", configdir, *args)
    assert result.code == 2 and message in result.err, result.err
    assert result.err.count("\n") <= 2 and arm.server.sent() == []


def test_no_pool_file_is_exit_2(cli, write_config) -> None:
    configdir = write_config(credentials="credentials:\n  storage:\n    sa1:\n      account: a\n      endpoint: local\n")
    result = cli("image", "publish", "--configdir", configdir)
    assert result.code == 2 and "pool" in result.err


def test_local_backend_publishes_into_the_local_gallery(cli, write_config, ubuntu_vhd: Path, shipyard_home) -> None:
    from fixtures.uploads import local_credentials
    from shipyard.storage.local_gallery import resolve

    configdir = write_config(credentials=local_credentials())
    uploaded = cli("image", "upload", ubuntu_vhd, "--storage-account", "sa1", "--configdir", configdir, "--raw")
    uri = uploaded.json()["uri"]
    (configdir / "pool.yaml").write_text(pool_yaml(uri, 2))
    result = cli("image", "publish", "--configdir", configdir, "--update-pool", "-y", "--raw")
    assert result.code == 0, result.err
    arm_image_id = result.json()["arm_image_id"]
    assert arm_image_id.startswith("/subscriptions/local/resourceGroups/local/providers/Microsoft.Compute/"
                                   f"galleries/shipyard/images/{DEFINITION}/versions/")
    entry = resolve(arm_image_id)
    assert entry is not None and entry.image_uris == (uri,) and entry.definition_fields["hyper_v_generation"] == "V1"
    assert resolve(arm_image_id.rsplit("/versions/", 1)[0]) == entry
    assert f"arm_image_id: {arm_image_id}" in (configdir / "pool.yaml").read_text()
    again = cli("image", "publish", "--configdir", configdir, "--source", uri, "--raw")
    assert again.code == 0 and again.json()["outcome"] == "existing" and again.json()["arm_image_id"] == arm_image_id
    # and the pool runs from it on this machine: its nodes boot the VHD the version records
    added = cli("pool", "add", "--configdir", configdir, "--raw")
    try:
        assert added.code == 0, added.err
        data = added.json()
        assert data["pool"]["image"]["arm_image_id"] == arm_image_id
        assert data["pool"]["image"]["image_uris"] == [uri]
        assert {n["state"] for n in data["nodes"]} == {"idle"} and len(data["nodes"]) == 2
    finally:
        assert cli("pool", "del", "--configdir", configdir, "-y").code == 0


def test_replication_shows_a_percent_bar_per_region_on_a_terminal(arm, azure_config, monkeypatch) -> None:
    import os
    import sys

    from fixtures.terminal import ANSI, run_on_terminal

    configdir, _, _ = azure_config
    arm.steps = 6
    code, shown = run_on_terminal([sys.executable, "-m", "shipyard", "image", "publish", "--configdir", str(configdir),
                                   "--version", "1.0.0", "--poll-interval", "0.2"],
                                  {"SHIPYARD_HOME": os.environ["SHIPYARD_HOME"]})
    assert code == 0, shown
    assert ANSI in shown and "replicating 1.0.0 to westeurope" in shown
    assert re.search(r"\b\d{1,3}%", shown) and not re.search(r"\d+(\.\d+)?/?\d* ?(bytes|B|KiB|MiB)\b", shown)
    assert f"created: {VERSION_ID}" in shown
