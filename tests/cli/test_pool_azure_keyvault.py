"""Certificates on the Azure path end to end, in-process, with the real SDKs on the HTTPS test server:
`cert create` -> `cert add` (Key Vault import) -> `pool add --publish` refused until the pool has a
managed identity -> `pool add` through the management plane, with the identity and the Key Vault VM
extension -> a certificate deleted from the vault refuses the next pool before anything is made."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures.arm_batch_pools import install_arm_pools
from fixtures.azure_path import SUB
from fixtures.keyvault_service import KeyVaultService
from shipyard.config.certificate import create_certificate

pytestmark = pytest.mark.usefixtures("shipyard_home")
ACCOUNT = f"/subscriptions/{SUB}/resourceGroups/batchrg/providers/Microsoft.Batch/batchAccounts/127"
IDENTITY = f"/subscriptions/{SUB}/resourceGroups/batchrg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/pool"
CLIENT_ID = "0b1c2d3e-0000-4000-8000-00000000c11d"


def test_pool_certificates_reach_azure_nodes_through_the_keyvault_extension(
    cli, azure_configdir: Path, azure, tmp_path: Path
) -> None:
    configdir = azure_configdir
    server, _, service = azure
    keyvault = KeyVaultService(server)
    install_arm_pools(service, ACCOUNT)
    credentials = configdir / "credentials.yaml"
    credentials.write_text(credentials.read_text() + f"  keyvault:\n    uri: {server.url}\n")

    made = cli("cert", "create", "--configdir", configdir, "--file-prefix", tmp_path / "enc", "--raw")
    assert made.code == 0, made.err
    encryption = made.json()["sha1_thumbprint"]
    added = cli("cert", "add", "--configdir", configdir, "--raw")  # config.yaml's PFX and passphrase
    assert added.code == 0, added.err
    assert added.json()["name"] == f"sha1-{encryption}" and added.json()["sha1_thumbprint"] == encryption
    other = create_certificate(tmp_path / "app", "app-pfx-passphrase", key_bits=3072)
    app = cli("cert", "add", "--file", other.pfx, "--pfx-password", other.passphrase, "--name", "app-cert",
              "--configdir", configdir)
    assert app.code == 0, app.err
    assert "app-pfx-passphrase" not in app.out + app.err
    listed = cli("cert", "list", "--configdir", configdir, "--raw").json()
    assert sorted((c["name"], c["sha1_thumbprint"]) for c in listed) == sorted(
        [("app-cert", other.sha1_thumbprint), (f"sha1-{encryption}", encryption)])
    imported = server.sent("POST", r"^/certificates/app-cert/import$")[-1]
    assert imported.authorization.startswith("Bearer ") and imported.json["pwd"] == "app-pfx-passphrase"

    pool_yaml = configdir / "pool.yaml"
    pool_yaml.write_text(pool_yaml.read_text() + f"  certificates:\n    sha1${other.sha1_thumbprint}:\n"
                                                  "      visibility: [task]\n")
    refused = cli("pool", "add", "--configdir", configdir, "--publish", "-y", "--no-wait", "--raw")
    assert refused.code == 1, refused.err
    results = [r for r in refused.json()["admission"]["config"] if r["id"] == "pool.certificates"]
    assert any(r["status"] == "fail" and "user-assigned identity" in r["message"] for r in results)
    assert {r["message"] for r in results if r["status"] == "pass"} == {
        f"certificate sha1${other.sha1_thumbprint} is in {server.url} as 'app-cert'",
        f"certificate sha1${encryption} is in {server.url} as 'sha1-{encryption}'"}
    assert server.sent("PUT", r"/pools/") == [] and server.sent("POST", r"^/pools$") == []

    pool_yaml.write_text(pool_yaml.read_text() + f"  managed_identity:\n    resource_id: {IDENTITY}\n"
                                                  f"    client_id: {CLIENT_ID}\n")
    pooled = cli("pool", "add", "--configdir", configdir, "--no-wait", "-vv")
    assert pooled.code == 0, pooled.err
    assert server.sent("POST", r"^/pools$") == []  # not the data plane: it gives a pool no identity
    put = server.sent("PUT", r"/batchAccounts/127/pools/azpool$")[0]
    assert put.authorization.startswith("Bearer ") and put.api_version
    body = put.json
    assert body["identity"] == {"type": "UserAssigned", "userAssignedIdentities": {IDENTITY: {}}}
    machine = body["properties"]["deploymentConfiguration"]["virtualMachineConfiguration"]
    assert machine["imageReference"]["id"].startswith(f"/subscriptions/{SUB}/resourceGroups/batchrg/")
    [extension] = machine["extensions"]
    assert (extension["publisher"], extension["type"], extension["typeHandlerVersion"]) == (
        "Microsoft.Azure.KeyVault", "KeyVaultForLinux", "3.0")
    settings = extension["settings"]
    assert sorted(settings["secretsManagementSettings"]["observedCertificates"]) == sorted(
        [f"{server.url}/secrets/app-cert", f"{server.url}/secrets/sha1-{encryption}"])
    assert settings["secretsManagementSettings"]["certificateStoreLocation"] == \
        "/var/lib/waagent/Microsoft.Azure.KeyVault.Store"
    assert settings["secretsManagementSettings"]["requireInitialSync"] is True
    assert settings["authenticationSettings"]["msiClientId"] == CLIENT_ID
    start = body["properties"]["startTask"]
    assert start["userIdentity"]["autoUser"] == {"scope": "Pool", "elevationLevel": "Admin"}
    assert start["waitForSuccess"] is True
    assert {f["filePath"] for f in start["resourceFiles"]} >= {"nodeprep/nodeprep.py", "config/pool.yaml"}
    listed_pools = cli("pool", "list", "--configdir", configdir, "--raw").json()
    assert [p["id"] for p in listed_pools] == ["azpool"]  # the data plane shows it
    everything = pooled.out + pooled.err + json.dumps(listed_pools)
    for secret in [*server.tokens_issued, "app-pfx-passphrase"]:
        assert secret not in everything

    # a task's Key Vault environment: read on the node by the launcher, as the pool's identity
    (configdir / "jobs.yaml").write_text(
        "job_specifications:\n- id: kvjob\n  tasks:\n  - command: /bin/echo hi\n"
        f"    environment_variables_keyvault_secret_id: {server.url}/secrets/taskenv\n")
    jobs = cli("jobs", "add", "--configdir", configdir)
    assert jobs.code == 0, jobs.err
    [task] = server.sent("POST", r"/jobs/kvjob/addtaskcollection$")[0].json["value"]
    assert task["commandLine"].startswith("/bin/sh -c ") and "task-environment" in task["commandLine"]
    assert f"{server.url}/secrets/taskenv" in task["commandLine"] and "/bin/echo hi" in task["commandLine"]
    start = server.sent("PUT", r"/batchAccounts/127/pools/azpool$")[0].json["properties"]["startTask"]
    assert '--task-launcher "$AZ_BATCH_NODE_SHARED_DIR/shipyard"' in start["commandLine"]

    deleted = cli("cert", "del", f"sha1${other.sha1_thumbprint}", "--configdir", configdir, "-y")
    assert deleted.code == 0, deleted.err
    assert "app-cert" not in keyvault.certificates
    pool_yaml.write_text(pool_yaml.read_text().replace("id: azpool", "id: azpool2"))
    again = cli("pool", "add", "--configdir", configdir, "--no-wait", "--raw")
    assert again.code == 1
    failing = [(r["message"], r["fix"]) for r in again.json()["admission"]["config"] if r["status"] == "fail"]
    assert failing == [(f"certificate sha1${other.sha1_thumbprint} is not in {server.url}",
                        "put it in the vault with `shipyard cert add --file PFX` (or `shipyard cert add` for "
                        "config.yaml's)")]
    assert server.sent("PUT", r"/pools/azpool2$") == []  # refused before anything was made
