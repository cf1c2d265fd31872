"""`shipyard config check`: the summary, the error lines and the --raw shape."""

from __future__ import annotations

POOL = """
pool_specification:
  id: bigpool
  vm_configuration:
    custom_image:
      image_uris:
      - https://acct1.blob.core.windows.net/vhds/img.vhd
      - https://acct1.blob.core.windows.net/vhds/img2.vhd?sv=2024&sig=DoNotPrintMe
      node_agent: batch.node.ubuntu 22.04
  vm_size: STANDARD_D2_V2
  vm_count:
    dedicated: 80
    low_priority: 20
"""
CREDENTIALS = """
credentials:
  batch:
    account_service_url: https://b.westus.batch.azure.com
    account_key: BatchAccountKeyNeverShown==
  storage:
    sa1:
      account: acct1
      account_key: StorageKeyNeverShown==
"""


def test_invalid_pool_report(cli, write_config) -> None:
    directory = write_config(pool=POOL, credentials=CREDENTIALS)
    result = cli("config", "check", "--configdir", directory)
    assert result.code == 2
    pool = directory / "pool.yaml"
    lines = result.out.splitlines()
    assert f"error: {pool}:7: pool_specification.vm_configuration.custom_image.image_uris[1]: image URIs must be bare, with no query string or SAS token: use https://acct1.blob.core.windows.net/vhds/img2.vhd" in lines
    assert f"error: {pool}:5: pool_specification.vm_configuration.custom_image.image_uris: insufficient number of VHDs (2) supplied for 100 compute nodes. At least 3 VHDs are required." in lines
    assert any(line.startswith("warning:") and "only an account_key is given" in line for line in lines)
    assert any(line.startswith("VHDs") and "2 given, 3 required (40 nodes per VHD)" in line for line in lines)
    assert any(line.startswith("requires") for line in lines)
    assert lines[-1] == "config is invalid: 2 errors, 1 warning"
    everything = result.out + result.err
    for secret in ("DoNotPrintMe", "BatchAccountKeyNeverShown", "StorageKeyNeverShown"):
        assert secret not in everything


def test_raw_shape(cli, write_config) -> None:
    directory = write_config(pool=POOL)
    result = cli("config", "check", "--configdir", directory, "--raw")
    report = result.json()
    assert result.code == 2 and result.err == ""
    assert set(report) >= {"ok", "files", "errors", "warnings"}
    assert report["ok"] is False
    assert report["files"] == [{"kind": "pool", "file": str(directory / "pool.yaml")}]
    error = report["errors"][0]
    assert set(error) >= {"file", "line", "path", "message"}
    assert {s["check"] for s in report["skipped"]} == {
        "custom_image.storage_link", "custom_image.account_mode", "config.storage_link"
    }
    assert report["summary"]["nodes"] == {"dedicated": 80, "low_priority": 20, "autoscale_maximum": None, "maximum": 100}
    assert "DoNotPrintMe" not in result.out


def test_valid_config_exits_0(cli, write_config) -> None:
    directory = write_config(
        pool=POOL.replace("?sv=2024&sig=DoNotPrintMe", "").replace("dedicated: 80", "dedicated: 60"),
        credentials=CREDENTIALS.replace("account_key: BatchAccountKeyNeverShown==", "pool_allocation_mode: user_subscription")
        + "    sa2: {account: acct2}\n",
    )
    result = cli("config", "check", "--configdir", directory)
    assert result.code == 0, result.out
    assert result.out.splitlines()[-1] == "config is valid, 1 warning"  # both VHDs in acct1
