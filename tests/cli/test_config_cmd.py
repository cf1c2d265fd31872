"""`shipyard config check`: the summary, the error lines and the --raw shape."""

from __future__ import annotations

import re

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


def rows(out: str) -> list[list[str]]:
    """The findings table: its header, then one row per line, columns split on runs of spaces."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["level", "where"])
    table = []
    for line in lines[start:]:
        if not line.strip() or line.startswith("config is "):
            break
        table.append(re.split(r"\s{2,}", line.strip(), maxsplit=4))
    return table


def test_invalid_pool_report(cli, write_config) -> None:
    directory = write_config(pool=POOL, credentials=CREDENTIALS)
    result = cli("config", "check", "--configdir", directory)
    assert result.code == 2
    pool, creds = directory / "pool.yaml", directory / "credentials.yaml"
    ci = "pool_specification.vm_configuration.custom_image"
    assert rows(result.out) == [
        ["level", "where", "key", "rule", "message"],
        ["error", f"{pool}:7", f"{ci}.image_uris[1]", "custom_image.bare_uri",
         "image URIs must be bare, with no query string or SAS token: use https://acct1.blob.core.windows.net/vhds/img2.vhd"],
        ["error", f"{pool}:5", f"{ci}.image_uris", "custom_image.vhd_count",
         "insufficient number of VHDs (2) supplied for 100 compute nodes. At least 3 VHDs are required."],
        ["warning", f"{pool}:5", f"{ci}.image_uris", "custom_image.azure_vhd",
         "VHD image_uris serve the local backend only; Azure Batch takes a custom image only as an Azure Compute "
         "Gallery image version: publish the VHD to a gallery and set arm_image_id to the version id"],
        ["warning", f"{creds}:2", "credentials.batch", "custom_image.account_mode",
         "custom images need a User Subscription Batch account, which authenticates with Azure AD only; only an "
         "account_key is given (set pool_allocation_mode to say which mode the account is in)"],
        ["skipped", "-", "-", "config.storage_link", "no config file given"],
    ]
    lines = [line.rstrip() for line in result.out.splitlines()]
    assert "VHDs        2 given, 3 required (40 nodes per VHD)" in lines
    assert "backend     azure (credentials.batch.account_service_url names an Azure Batch account)" in lines
    assert "node comm   simplified (default for an Azure Batch account)" in lines
    assert any(line.startswith("requires") for line in lines)
    assert "config is" not in result.out  # the verdict of an invalid config is on stderr only
    assert result.err == "shipyard: error: config is invalid: 2 errors, 2 warnings\n"
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
    assert {s["check"]: s["reason"] for s in report["skipped"]} == {
        "custom_image.azure_vhd": "no credentials file given",
        "custom_image.storage_link": "no credentials file given",
        "custom_image.account_mode": "no credentials file given",
        "pool.node_communication_mode": "no credentials file given",
        "config.storage_link": "no config or credentials file given",
    }
    assert report["summary"]["nodes"] == {"dedicated": 80, "low_priority": 20, "autoscale_maximum": None, "maximum": 100}
    assert report["summary"]["node_communication_mode"] == {
        "mode": "classic", "source": "default", "backend": "local", "reason": "default for the local backend"
    }
    assert "DoNotPrintMe" not in result.out


def test_valid_config_exits_0(cli, write_config) -> None:
    directory = write_config(
        pool=POOL.replace("?sv=2024&sig=DoNotPrintMe", "").replace("dedicated: 80", "dedicated: 60"),
        credentials=CREDENTIALS.replace("account_key: BatchAccountKeyNeverShown==", "pool_allocation_mode: user_subscription")
        + "    sa2: {account: acct2}\n",
    )
    result = cli("config", "check", "--configdir", directory)
    assert result.code == 0, result.out
    assert [row[3] for row in rows(result.out)[1:]] == ["custom_image.azure_vhd", "custom_image.distinct_accounts", "config.storage_link"]
    assert result.out.splitlines()[-1] == "config is valid, 2 warnings"
    assert result.err == ""


def test_a_file_that_did_not_load_says_so(cli, write_config) -> None:
    directory = write_config(pool=POOL.replace("  vm_size: STANDARD_D2_V2\n", "  vm_size: [STANDARD_D2_V2\n"), credentials=CREDENTIALS)
    result = cli("config", "check", "--configdir", directory)
    assert result.code == 2
    table = rows(result.out)
    assert table[1] == [
        "error", f"{directory / 'pool.yaml'}:10", "-", "-",
        "pool file did not load: invalid YAML: expected ',' or ']', but got ':' at line 10 "
        "(while parsing a flow sequence opened at line 9)",
    ]
    skipped = {row[3]: row[4] for row in table if row[0] == "skipped"}
    assert skipped["pool.image_source"] == "the pool file did not load"
    assert skipped["custom_image.storage_link"] == "the pool file did not load"
    assert "no pool file given" not in result.out
    assert result.err == "shipyard: error: config is invalid: 1 error, 0 warnings\n"


def test_classic_on_an_azure_account_is_an_error_and_the_summary_says_set(cli, write_config) -> None:
    pool = POOL.replace("?sv=2024&sig=DoNotPrintMe", "").replace("dedicated: 80", "dedicated: 1") + "  node_communication_mode: classic\n"
    result = cli("config", "check", "--configdir", write_config(pool=pool, credentials=CREDENTIALS))
    assert result.code == 2
    lines = [line.rstrip() for line in result.out.splitlines()]
    assert "node comm   classic (set in pool_specification.node_communication_mode)" in lines
    errors = [row for row in rows(result.out) if row[0] == "error"]
    assert [(row[2], row[3]) for row in errors] == [("pool_specification.node_communication_mode", "pool.node_communication_mode")]
    local = CREDENTIALS.replace("https://b.westus.batch.azure.com", "local://batch")
    result = cli("config", "check", "--configdir", write_config(pool=pool, credentials=local))
    assert "pool.node_communication_mode" not in [row[3] for row in rows(result.out) if row[0] == "error"]


def test_text_from_the_file_is_shown_verbatim_never_as_markup(cli, write_config) -> None:
    """A pool id or a key with square brackets is printed as written (rich markup would crash or eat it)."""
    pool = (
        "pool_specification:\n  id: '[/bold]pool[red]'\n  vm_size: '[/]D2'\n  vm_count: {dedicated: 1}\n"
        "  '[red]x': 1\n  vm_configuration:\n    platform_image: {publisher: a, offer: b, sku: c}\n"
    )
    result = cli("config", "check", "--pool", write_config(pool=pool) / "pool.yaml")
    assert result.code == 0, result.err
    lines = [" ".join(line.split()) for line in result.out.splitlines()]
    assert "pool [/bold]pool[red]" in lines
    assert "vm size [/]D2" in lines
    assert any("unknown key [red]x" in line for line in lines)


def test_a_key_with_a_newline_or_an_escape_sequence_stays_on_its_one_line(cli, write_config) -> None:
    """Control characters from the file are shown escaped: one line per finding, no terminal escapes."""
    pool = (
        'pool_specification:\n  id: p\n  vm_size: x\n  "a\\nb": 2\n  "c\\x1b[2Jd": 1\n  vm_count: {dedicated: 1}\n'
        "  vm_configuration:\n    platform_image: {publisher: a, offer: b, sku: c}\n"
    )
    result = cli("config", "check", "--pool", write_config(pool=pool) / "pool.yaml")
    assert result.code == 0, result.err
    assert "\x1b" not in result.out
    table = rows(result.out)
    assert [row[0] for row in table[1:]].count("warning") == 2
    assert table[1][2:] == ["pool_specification.a\\nb", "-", "unknown key a\\nb; it is not a Batch Shipyard key and is ignored"]
    assert table[2][2] == "pool_specification.c\\x1b[2Jd"


def test_raw_findings_have_one_shape_whether_the_loader_or_a_rule_found_them(cli, write_config) -> None:
    """A rule's problem carries its id as ``check`` (and no ``fix``); a loader finding has no ``check``."""
    directory = write_config(pool=POOL + "  bogus_key: 1\n")
    report = cli("config", "check", "--configdir", directory, "--raw").json()
    ci = "pool_specification.vm_configuration.custom_image"
    assert report["errors"][0] == {
        "file": str(directory / "pool.yaml"), "line": 7, "path": f"{ci}.image_uris[1]",
        "message": "image URIs must be bare, with no query string or SAS token: use "
                   "https://acct1.blob.core.windows.net/vhds/img2.vhd",
        "check": "custom_image.bare_uri",
    }
    assert report["warnings"][0] == {
        "file": str(directory / "pool.yaml"), "line": 13, "path": "pool_specification.bogus_key",
        "message": "unknown key bogus_key; it is not a Batch Shipyard key and is ignored",
    }


def test_a_config_rule_that_raises_is_an_error_that_names_it(cli, write_config, monkeypatch) -> None:
    from shipyard.cli import config_cmd
    from shipyard.results import Severity
    from shipyard.rules.base import Rule

    def broken(config, pool):
        raise RuntimeError("boom")

    rules = (Rule("test.broken", Severity.ERROR, "raises", "mend it", broken), *config_cmd.CONFIG_RULES)
    monkeypatch.setattr(config_cmd, "CONFIG_RULES", rules)
    pool = POOL.replace("?sv=2024&sig=DoNotPrintMe", "").replace("dedicated: 80", "dedicated: 1")
    report = cli("config", "check", "--configdir", write_config(pool=pool), "--raw").json()
    assert report["ok"] is False
    assert report["errors"] == [
        {"file": None, "line": None, "path": None, "message": "rule test.broken raised RuntimeError: boom",
         "check": "test.broken"}
    ]


def test_only_config_rules_name_a_check_in_raw_findings(cli, write_config) -> None:
    """The one rule for the raw shape (``config_cmd._finding``): every loader result, whatever
    produced it, is ``{file, line, path, message}``; every config rule's result, ``config.``
    ids included, adds ``check``."""
    from shipyard.config.diagnostics import DIAGNOSTIC_IDS
    from shipyard.rules.registry import CONFIG_RULES

    pool = POOL.replace("dedicated: 80", "dedicted: 80").replace("low_priority: 20", "low_priority: x")
    pool += "  vm_count_extra: 1\n  additional_node_prep_commands: [echo]\n"
    directory = write_config(
        pool=pool, credentials=CREDENTIALS, config="batch_shipyard:\n  storage_account_settings: nowhere\n",
        jobs="job_specifications:\n- id: idle\n", fs="remote_fs: [unclosed\n",
    )
    report = cli("config", "check", "--configdir", directory, "--raw").json()
    found = report["errors"] + report["warnings"]
    loader = [item for item in found if "check" not in item]
    assert {item["message"].split(":")[0].split(";")[0] for item in loader} >= {
        "fs file did not load",  # config.load
        "must be an integer, found a string",  # config.schema
        "unknown key dedicted",  # config.unknown_key
        "additional_node_prep_commands is the Batch Shipyard 2.x form",  # config.legacy
        "job idle has no task",  # config.empty_work
    }
    assert all(set(item) == {"file", "line", "path", "message"} for item in loader)
    rules = {item["check"] for item in found if "check" in item}
    assert "config.storage_link" in rules  # a rule whose id starts with config. still names it
    assert rules <= {rule.id for rule in CONFIG_RULES} and rules.isdisjoint(DIAGNOSTIC_IDS)
