"""The config rules that depend on the Batch backend (an Azure Batch account, or the local backend
of a ``local://`` URL, no URL or no ``batch`` section): VHDs on Azure Batch, managed images, and
the node communication mode, as a table of backend, input and expected problem.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.config_rules import CI, CREDENTIALS, E, W, check, only, pool, uri
from shipyard.rules.registry import CONFIG_RULES


AZURE_BATCH = {"account_service_url": "https://b.westus.batch.azure.com", "aad": {"directory_id": "d"}}
BACKENDS: dict[str, dict | None] = {
    "azure": AZURE_BATCH,
    "local_url": {"account_service_url": "local://batch"},
    "no_url": {"aad": {"directory_id": "d"}},
    "no_batch": None,
}
MANAGED = "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/images/legacy"
GALLERY = "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/galleries/g/images/i/versions/1.0.0"
LOCAL_VHD = "local://localacct/vhds/img.vhd"
NCM = "pool_specification.node_communication_mode"


def credentials_for(backend: str) -> dict:
    creds = {k: v for k, v in CREDENTIALS["credentials"].items() if k != "batch"}
    if BACKENDS[backend] is not None:
        creds["batch"] = BACKENDS[backend]
    return {"credentials": creds}


BACKEND_CASES = [
    # (backend, pool doc, rule, expected [(severity, path, message substring)])
    ("azure", pool({"image_uris": [uri("acct1")]}), "custom_image.azure_vhd",
     [(W, f"{CI}.image_uris", "VHD image_uris serve the local backend only; Azure Batch takes a custom image only as an Azure Compute Gallery image version")]),
    ("azure", pool({"image_uris": [LOCAL_VHD]}), "custom_image.azure_vhd",
     [(W, f"{CI}.image_uris", "publish the VHD to a gallery and set arm_image_id")]),
    ("local_url", pool({"image_uris": [LOCAL_VHD]}), "custom_image.azure_vhd", []),
    ("no_url", pool({"image_uris": [LOCAL_VHD]}), "custom_image.azure_vhd", []),
    ("no_batch", pool({"image_uris": [LOCAL_VHD]}), "custom_image.azure_vhd", []),
    ("azure", pool({"arm_image_id": GALLERY}), "custom_image.azure_vhd", []),
    ("azure", pool({"arm_image_id": MANAGED}), "custom_image.arm_image_id",
     [(E, f"{CI}.arm_image_id", "is a managed image; Azure Batch retired managed-image pools on 2026-03-31: publish its VHD as a Compute Gallery image version (shipyard image publish)")]),
    ("local_url", pool({"arm_image_id": MANAGED}), "custom_image.arm_image_id",
     [(E, f"{CI}.arm_image_id", "no backend runs one: Azure Batch retired managed-image pools on 2026-03-31 and the local backend runs VHDs (image_uris)")]),
    ("no_batch", pool({"arm_image_id": MANAGED}), "custom_image.arm_image_id",
     [(E, f"{CI}.arm_image_id", "no backend runs one")]),
    ("azure", pool({"arm_image_id": GALLERY}), "custom_image.arm_image_id", []),
    ("local_url", pool({"arm_image_id": GALLERY}), "custom_image.arm_image_id", []),
    ("azure", pool(platform=True, node_communication_mode="classic"), "pool.node_communication_mode",
     [(E, NCM, "classic was retired by Azure Batch on 2026-03-31: set simplified or remove the key")]),
    ("azure", pool(platform=True, node_communication_mode="Classic"), "pool.node_communication_mode",
     [(E, NCM, "classic was retired by Azure Batch on 2026-03-31")]),
    ("azure", pool(platform=True, node_communication_mode="simplified"), "pool.node_communication_mode", []),
    ("azure", pool(platform=True), "pool.node_communication_mode", []),
    ("local_url", pool(platform=True, node_communication_mode="classic"), "pool.node_communication_mode", []),
    ("no_batch", pool(platform=True, node_communication_mode="classic"), "pool.node_communication_mode", []),
]


@pytest.mark.parametrize(("backend", "pool_doc", "rule", "expected"), BACKEND_CASES)
def test_backend_rule_table(tmp_path: Path, backend: str, pool_doc: dict, rule: str, expected: list) -> None:
    findings, skipped = check(tmp_path, pool_doc, credentials_for(backend))
    assert rule not in {s.id for s in skipped}
    got = only(findings, rule)
    assert [(s, p) for s, p, _ in got] == [(s, p) for s, p, _ in expected], got
    for (_, _, message), (_, _, want) in zip(got, expected, strict=True):
        assert want in message


def test_every_backend_rule_has_a_passing_and_a_failing_case() -> None:
    rules = {"custom_image.azure_vhd", "custom_image.arm_image_id", "pool.node_communication_mode"}
    assert rules <= {r.id for r in CONFIG_RULES}
    assert rules <= {rule for _, _, rule, expected in BACKEND_CASES if expected}
    assert rules <= {rule for _, _, rule, expected in BACKEND_CASES if not expected}


def test_a_managed_image_is_an_error_without_credentials_too(tmp_path: Path) -> None:
    findings, skipped = check(tmp_path, pool({"arm_image_id": MANAGED}), credentials=None)
    assert [(s, p) for s, p, _ in only(findings, "custom_image.arm_image_id")] == [(E, f"{CI}.arm_image_id")]
    assert {s.id: s.skip_reason for s in skipped}["custom_image.azure_vhd"] == "no credentials file given"
