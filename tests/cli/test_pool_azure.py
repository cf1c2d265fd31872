"""The Azure path end to end, in-process: `image upload` (Azurite) -> `pool add --publish`
(Compute Gallery routes, then the Batch emulator) -> `pool list` -> `jobs add` -> `pool del`,
with the real SDKs on the local HTTPS server and Entra ID tokens from its managed-identity endpoint.

The emulated node is this machine, which has no wheels for the test bundle: its start task (the
real bootstrap, fetched from Azurite through its read SAS) fails with the bootstrap's own message,
which is what a node of an image without node prep's wheels would do.
"""

from __future__ import annotations

import platform
import re
import subprocess
from pathlib import Path

import pytest

from fixtures.azure_path import DEFINITION_ID
from fixtures.batch_client import until

pytestmark = pytest.mark.usefixtures("shipyard_home")


def test_vhd_uris_on_azure_name_image_publish(cli, azure_configdir: Path, azure) -> None:
    server, _, _ = azure
    result = cli("pool", "add", "--configdir", azure_configdir)
    assert result.code == 2 and len(result.err.strip().splitlines()) <= 2
    assert "Azure Batch takes a custom image only as a Compute Gallery image" in result.err
    assert "--publish" in result.err and server.sent("POST", r"^/pools$") == []


def test_publish_then_pool_then_jobs(cli, azure_configdir: Path, azure, azurite, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    server, _, _ = azure
    monkeypatch.chdir(tmp_path)  # `data files node` downloads here
    added = cli("pool", "add", "--configdir", azure_configdir, "--publish", "-y", "--no-wait", "-vv")  # every request logged
    assert added.code == 0, added.err
    pool_yaml = (azure_configdir / "pool.yaml").read_text()
    found = re.search(r"arm_image_id: (\S+)", pool_yaml)
    assert found and "# on Azure Batch" in pool_yaml and "image_uris" not in pool_yaml
    version_id = found.group(1)
    assert re.fullmatch(re.escape(DEFINITION_ID) + r"/versions/\d+\.\d+\.\d+", version_id)
    assert [r.path for r in server.sent("PUT")][-1] == version_id
    body = server.sent("POST", r"^/pools$")[0].json
    assert body["virtualMachineConfiguration"]["imageReference"] == {"virtualMachineImageId": version_id}
    start = body["startTask"]
    assert start["commandLine"] == "/bin/sh -c 'set -e; python3 nodeprep/nodeprep.py --configdir config'"
    files = {f["filePath"]: f["httpUrl"] for f in start["resourceFiles"]}
    assert set(files) == {"nodeprep/nodeprep.py", "config/config.yaml", "config/pool.yaml"}
    assert all(url.startswith(azurite.endpoint("acct1")) and "sig=" in url for url in files.values())
    assert f"POST {server.url}/pools" in added.err  # -vv logged the requests: without a token, key or SAS
    for token in server.tokens_issued:
        assert token not in added.out + added.err
    assert all("sig=" not in text for text in (added.out, added.err))

    # the node fetched the bootstrap through its SAS and ran it: no wheels for this python
    def failed_node():
        nodes = cli("pool", "nodes", "list", "--configdir", azure_configdir, "--raw").json()["nodes"]
        return nodes if nodes and nodes[0]["state"] == "starttaskfailed" else None

    node = until(failed_node, "the start task to fail", timeout=60)[0]
    stderr = cli("data", "files", "node", "--configdir", azure_configdir, "--nodeid", node["id"],
                 "--filespec", "startup/stderr.txt", "--raw")
    assert stderr.code == 0, stderr.err
    lines = (tmp_path / "stderr.txt").read_text().splitlines()
    assert len(lines) == 4  # the first try and its 3 retries
    node_python = subprocess.run(["python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                 capture_output=True, text=True, check=True).stdout.strip()  # the node's python3
    assert set(lines) == {f"shipyard: error: this node prep bundle has no wheels for python {node_python} on "
                          f"{platform.machine()}; rebuild it with `shipyard node bundle --python {node_python}`"}
    listed = cli("pool", "list", "--configdir", azure_configdir, "--raw").json()
    assert [(p["id"], p["image"]["arm_image_id"]) for p in listed] == [("azpool", version_id)]

    jobs = cli("jobs", "add", "--configdir", azure_configdir)
    assert jobs.code == 0, jobs.err
    collection = server.sent("POST", r"/jobs/azjob/addtaskcollection$")[0].json["value"]
    assert {t["id"]: t.get("dependsOn") for t in collection} == {"task-00000": None,
                                                                   "second": {"taskIds": ["task-00000"]}}
    assert server.sent("POST", r"^/jobs$")[0].json["poolInfo"] == {"poolId": "azpool"}
    (azure_configdir / "jobs.yaml").write_text(
        "job_specifications:\n- id: kvjob\n  tasks:\n  - command: /bin/echo hi\n"
        "    environment_variables_keyvault_secret_id: https://kv1.vault.azure.net/secrets/env\n")
    refused = cli("jobs", "add", "--configdir", azure_configdir)  # this pool has no identity to read it as
    assert refused.code == 2 and "has no managed identity to read them as" in refused.err
    assert server.sent("POST", r"^/jobs$")[-1].json["id"] == "azjob"  # no kvjob was made
    deleted = cli("pool", "del", "--configdir", azure_configdir, "-y")
    assert deleted.code == 0, deleted.err
    assert cli("pool", "list", "--configdir", azure_configdir, "--raw").json() == []
