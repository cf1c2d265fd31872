"""Each custom-image rule that config alone can decide, as tables of input and expected problem,
and how the rules report: once per problem at its line, skipped without the files they need, an
error naming a rule that raises. The rules that depend on the Batch backend are in
``test_config_backend_rules.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from fixtures.config_rules import CI, CREDENTIALS, E, W, check, only, pool, run_rules, uri, write_pool
from shipyard.config.loader import load_config_set
from shipyard.config.paths import ConfigPaths
from shipyard.results import CheckResult, Location, Severity, Status
from shipyard.rules.base import Rule
from shipyard.rules.context import PoolContext
from shipyard.rules.engine import evaluate_rules
from shipyard.rules.registry import CONFIG_RULES

SAS = "sv=2024-11-04&ss=b&srt=o&sp=r&se=2030-01-01&sig=AbCdSecretSignature%3D"


def text_of(results: list[CheckResult]) -> str:
    return json.dumps([r.as_dict() for r in results])


CASES = [
    # (rule id, pool doc, expected [(severity, path, message substring)])
    ("pool.image_source", pool(platform=True), []),
    ("pool.image_source", pool({"image_uris": [uri("acct1")]}), []),
    (
        "pool.image_source",
        pool({"image_uris": [uri("acct1")]}, platform=True),
        [(E, "pool_specification.vm_configuration", "cannot specify both a platform_image and a custom_image")],
    ),
    ("pool.image_source", pool(), [(E, "pool_specification.vm_configuration", "needs a platform_image or a custom_image")]),
    (
        "custom_image.source",
        pool({"image_uris": [uri("acct1")], "arm_image_id": "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/galleries/g/images/i/versions/1.0.0"}),
        [(E, CI, "cannot specify both image_uris (VHD page blobs) and arm_image_id")],
    ),
    ("custom_image.source", pool({"image_uris": [uri("acct1")]}), []),
    ("custom_image.source", pool({}), [(E, CI, "needs image_uris (VHD page-blob URIs) or arm_image_id")]),
    ("custom_image.source", pool({"image_uris": []}), [(E, f"{CI}.image_uris", "image_uris is empty")]),
    (
        "custom_image.arm_image_id",
        pool({"arm_image_id": "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/galleries/g/images/i/versions/1.0.0"}),
        [],
    ),
    (
        "custom_image.arm_image_id",
        pool({"arm_image_id": "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/images/legacy"}),
        [(E, f"{CI}.arm_image_id", "is a managed image; Azure Batch retired managed-image pools on 2026-03-31")],
    ),
    ("custom_image.arm_image_id", pool({"arm_image_id": "myimage"}), [(E, f"{CI}.arm_image_id", "must be a Compute Gallery image")]),
    ("custom_image.arm_image_id", pool({"arm_image_id": "/SharedGalleries/abc-123/Images/ubuntu/Versions/1.0.0"}), []),
    ("custom_image.arm_image_id", pool({"arm_image_id": "/CommunityGalleries/pub-1/Images/ubuntu"}), []),
    ("custom_image.bare_uri", pool({"image_uris": [uri("acct1"), uri("acct2")]}), []),
    (
        "custom_image.bare_uri",
        pool({"image_uris": [uri("acct1"), uri("acct2") + "?" + SAS]}),
        [(E, f"{CI}.image_uris[1]", f"must be bare, with no query string or SAS token: use {uri('acct2')}")],
    ),
    (
        "custom_image.bare_uri",
        pool({"image_uris": ["ftp://acct1/vhds/x.vhd"]}),
        [(E, f"{CI}.image_uris[0]", "unsupported scheme 'ftp'")],
    ),
    (
        "custom_image.bare_uri",
        pool({"image_uris": ["https://acct1.blob.core.windows.net/img.vhd"]}),
        [(E, f"{CI}.image_uris[0]", "must name a container and a blob")],
    ),
    (
        "custom_image.bare_uri",
        pool({"image_uris": ["https://acct1.blob.core.windows.net/My_VHDs/img.vhd"]}),
        [(E, f"{CI}.image_uris[0]", "'My_VHDs' is not a valid container name")],
    ),
    (
        "custom_image.storage_link",
        pool({"image_uris": [uri("acct1"), "http://127.0.0.1:10000/devacct/vhds/img.vhd", "local://localacct/vhds/img.vhd"]}),
        [],
    ),
    (
        "custom_image.storage_link",
        pool({"image_uris": [uri("acct1"), uri("stranger")]}),
        [(E, f"{CI}.image_uris[1]", "storage account 'stranger' is not one of the credentials' storage links (emu, here, sa1, sa2, sa3)")],
    ),
    (
        "custom_image.storage_link",
        pool({"image_uris": ["https://acct1.blob.core.chinacloudapi.cn/vhds/img.vhd"]}),
        [(E, f"{CI}.image_uris[0]", "storage account 'acct1' is not one of")],
    ),
    ("custom_image.vhd_count", pool({"image_uris": [uri("acct1")]}, count=40), []),
    (
        "custom_image.vhd_count",
        pool({"image_uris": [uri("acct1")]}, count={"dedicated": 30, "low_priority": 11}),
        [(E, f"{CI}.image_uris", "insufficient number of VHDs (1) supplied for 41 compute nodes. At least 2 VHDs are required.")],
    ),
    (
        "custom_image.vhd_count",
        pool({"image_uris": [uri("acct1")], "node_agent": "batch.node.windows amd64"}, count=21),
        [(E, f"{CI}.image_uris", "insufficient number of VHDs (1) supplied for 21 compute nodes. At least 2 VHDs are required.")],
    ),
    ("custom_image.vhd_count", pool({"image_uris": [uri("acct1"), uri("acct2")], "node_agent": "batch.node.windows amd64"}, count=40), []),
    (
        "custom_image.vhd_count",
        pool(
            {"image_uris": [uri("acct1"), uri("acct2")]},
            count=10,
            autoscale={"scenario": {"name": "active_tasks", "maximum_vm_count": {"dedicated": 100, "low_priority": 20}}},
        ),
        [(E, f"{CI}.image_uris", "autoscale maximum_vm_count: insufficient number of VHDs (2) supplied for 120 compute nodes. At least 3 VHDs are required.")],
    ),
    ("custom_image.distinct_accounts", pool({"image_uris": [uri("acct1"), uri("acct2"), uri("acct3")]}), []),
    (
        "custom_image.distinct_accounts",
        pool({"image_uris": [uri("acct1", "a.vhd"), uri("acct2"), uri("acct1", "b.vhd")]}),
        [(W, f"{CI}.image_uris[2]", "shares storage account 'acct1' with image_uris[0]")],
    ),
    ("custom_image.node_agent", pool({"image_uris": [uri("acct1")]}), []),
    (
        "custom_image.node_agent",
        pool({"image_uris": [uri("acct1")], "node_agent": "batch.node.ubuntu 99.04"}),
        [(E, f"{CI}.node_agent", "'batch.node.ubuntu 99.04' is not a known node agent SKU id")],
    ),
    (
        "custom_image.node_agent",
        pool({"image_uris": [uri("acct1")], "node_agent": "batch.node.centos 7"}),
        [(W, f"{CI}.node_agent", "'batch.node.centos 7' is retired")],
    ),
]


@pytest.mark.parametrize(("rule", "pool_doc", "expected"), CASES)
def test_rule_table(tmp_path: Path, rule: str, pool_doc: dict, expected: list) -> None:
    findings, _ = check(tmp_path, pool_doc)
    got = only(findings, rule)
    assert len(got) == len(expected), got
    for (severity, path, message), (want_severity, want_path, want_message) in zip(got, expected, strict=True):
        assert (severity, path) == (want_severity, want_path)
        assert want_message in message


def test_every_rule_has_a_passing_and_a_failing_case() -> None:
    ids = [rule.id for rule in CONFIG_RULES]
    assert len(ids) == len(set(ids))
    covered_fail = {rule for rule, _, expected in CASES if expected}
    covered_pass = {rule for rule, _, expected in CASES if not expected}
    tested_elsewhere = {
        "custom_image.account_mode",
        "config.storage_link",
        "custom_image.azure_vhd",
        "pool.node_communication_mode",
    }
    assert set(ids) - tested_elsewhere <= covered_fail & covered_pass


def test_sas_token_is_never_echoed(tmp_path: Path) -> None:
    findings, _ = check(tmp_path, pool({"image_uris": [uri("acct1") + "?" + SAS, uri("acct1") + "?" + SAS]}))
    text = text_of(findings)
    assert "must be bare" in text
    assert "AbCdSecretSignature" not in text and "sig=" not in text and "sv=2024" not in text


def test_each_bad_uri_is_one_result_of_the_rule_at_its_own_line(tmp_path: Path) -> None:
    findings, _ = check(tmp_path, pool({"image_uris": [uri("acct1") + "?" + SAS, uri("acct2"), "ftp://acct1/vhds/x.vhd"]}))
    bare = [f for f in findings if f.id == "custom_image.bare_uri"]
    pool_file = tmp_path / "pool.yaml"
    text = pool_file.read_text().splitlines()
    sas_line, ftp_line = (next(n for n, line in enumerate(text, 1) if mark in line) for mark in ("?sv=", "ftp://"))
    assert [f.location for f in bare] == [
        Location(str(pool_file), sas_line, f"{CI}.image_uris[0]"),
        Location(str(pool_file), ftp_line, f"{CI}.image_uris[2]"),
    ]
    assert all(f.status is Status.FAIL and f.fix for f in bare)


def test_a_rule_that_finds_nothing_passes_once_and_a_caveat_of_an_error_rule_is_a_warning(tmp_path: Path) -> None:
    config = load_config_set(ConfigPaths.resolve(None, pool=write_pool(
        tmp_path, pool({"image_uris": [uri("acct1")], "node_agent": "batch.node.centos 7"}))))
    results = evaluate_rules(CONFIG_RULES, config, PoolContext())
    assert [(r.status, r.message) for r in results if r.id == "pool.image_source"] == [
        (Status.PASS, "exactly one of platform_image and custom_image")
    ]
    [retired] = [r for r in results if r.id == "custom_image.node_agent"]
    assert (retired.status, retired.severity) == (Status.WARN, Severity.WARNING)
    assert next(r for r in CONFIG_RULES if r.id == "custom_image.node_agent").severity is Severity.ERROR


@pytest.mark.parametrize(
    ("batch", "expected"),
    [
        ({"account_service_url": "https://b.westus.batch.azure.com", "pool_allocation_mode": "user_subscription"}, []),
        (
            {"account_service_url": "https://b.westus.batch.azure.com", "pool_allocation_mode": "BatchService"},
            [(E, "credentials.batch.pool_allocation_mode", "custom images need a User Subscription Batch account")],
        ),
        (
            {"account_service_url": "https://b.westus.batch.azure.com", "account_key": "BatchKey=="},
            [(W, "credentials.batch", "only an account_key is given")],
        ),
        ({"account_service_url": "https://b.westus.batch.azure.com", "aad": {"directory_id": "d"}}, []),
        # the local backend has no Batch account: an allocation mode or a lone key means nothing there
        ({"account_service_url": "local://", "pool_allocation_mode": "batch_service"}, []),
        ({"account_service_url": "local://", "account_key": "BatchKey=="}, []),
    ],
)
def test_account_mode(tmp_path: Path, batch: dict, expected: list) -> None:
    credentials = {"credentials": {**CREDENTIALS["credentials"], "batch": batch}}
    findings, _ = check(tmp_path, pool({"image_uris": [uri("acct1")]}), credentials)
    got = only(findings, "custom_image.account_mode")
    assert [(s, p) for s, p, _ in got] == [(s, p) for s, p, _ in expected]
    for (_, _, message), (_, _, want) in zip(got, expected, strict=True):
        assert want in message
    assert "BatchKey" not in text_of(findings)


def test_config_storage_link(write_config) -> None:
    directory = write_config(
        config="batch_shipyard:\n  storage_account_settings: missing\n",
        credentials="credentials:\n  storage:\n    sa1: {account: acct1}\n",
    )
    config = load_config_set(ConfigPaths.resolve(directory))
    findings, _ = run_rules(config)
    assert [(f.location, f.message) for f in findings] == [
        (Location(str(directory / "config.yaml"), 2, "batch_shipyard.storage_account_settings"),
         "'missing' is not one of the credentials' storage links (sa1)")
    ]


def test_rules_needing_missing_files_are_skipped_not_failed(tmp_path: Path) -> None:
    findings, skipped = check(tmp_path, pool({"image_uris": [uri("stranger") + "?" + SAS]}), credentials=None)
    assert {s.id: s.skip_reason for s in skipped} == {
        "custom_image.azure_vhd": "no credentials file given",
        "custom_image.storage_link": "no credentials file given",
        "custom_image.account_mode": "no credentials file given",
        "pool.node_communication_mode": "no credentials file given",
        "config.storage_link": "no config or credentials file given",
    }
    assert [f.id for f in findings] == ["custom_image.bare_uri"]


def test_a_rule_that_raises_becomes_an_error_naming_it(tmp_path: Path) -> None:
    def broken(config, pool):
        raise RuntimeError("boom at https://acct1.blob.core.windows.net/vhds/x.vhd?sig=Leaky")

    rules = (*CONFIG_RULES[:1], Rule("test.broken", Severity.ERROR, "raises", "mend it", broken), *CONFIG_RULES[1:])
    yaml = YAML()
    with open(tmp_path / "pool.yaml", "w") as handle:
        yaml.dump(pool({"image_uris": [uri("acct1")]}, platform=True), handle)
    config = load_config_set(ConfigPaths.resolve(None, pool=tmp_path / "pool.yaml"))
    findings, _ = run_rules(config, rules)
    broken_findings = [f for f in findings if f.id == "test.broken"]
    assert len(broken_findings) == 1
    assert (broken_findings[0].status, broken_findings[0].severity) == (Status.FAIL, Severity.ERROR)
    assert broken_findings[0].message.startswith("rule test.broken raised RuntimeError: boom")
    assert "Leaky" not in broken_findings[0].message
    assert any(f.id == "pool.image_source" for f in findings)  # the others still report


def test_skip_reasons_name_a_file_that_did_not_load_or_has_errors(tmp_path: Path) -> None:
    (tmp_path / "pool.yaml").write_text("pool_specification:\n  id: [p\n")
    (tmp_path / "credentials.yaml").write_text("credentials:\n  storage: 3\n")
    config = load_config_set(ConfigPaths.resolve(None, pool=tmp_path / "pool.yaml", credentials=tmp_path / "credentials.yaml"))
    findings, skipped = run_rules(config)
    reasons = {s.id: s.skip_reason for s in skipped}
    assert findings == []
    assert reasons["pool.image_source"] == "the pool file did not load"
    assert reasons["custom_image.storage_link"] == "the pool file did not load"
    assert reasons["config.storage_link"] == "no config file given"
    assert "no pool file given" not in reasons.values()
    config = load_config_set(ConfigPaths.resolve(None, credentials=tmp_path / "credentials.yaml", config=tmp_path / "credentials.yaml"))
    _, skipped = run_rules(config)
    assert {s.id: s.skip_reason for s in skipped}["config.storage_link"] == "the config and credentials files have errors"
