"""The Batch backend the credentials name, and the node communication mode the summary shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.config.backend import batch_backend, node_communication_mode
from shipyard.config.loader import load_config_set
from shipyard.config.paths import ConfigPaths
from shipyard.config.summary import summarize_pool

POOL = """\
pool_specification:
  id: p
  vm_configuration:
    platform_image: {publisher: Canonical, offer: ubuntu-24_04-lts, sku: server}
  vm_size: STANDARD_D2_V2
  vm_count: {dedicated: 1}
"""
AZURE = "credentials:\n  batch:\n    account_service_url: https://b.westus.batch.azure.com\n"
LOCAL = "credentials:\n  batch:\n    account_service_url: local://batch\n"
NO_URL = "credentials:\n  batch:\n    aad: {directory_id: d}\n"
NO_BATCH = "credentials:\n  storage:\n    sa1: {account: acct1}\n"
BROKEN = "credentials:\n  batch: {account_service_url: https://b.westus.batch.azure.com\n"
INVALID = "credentials:\n  batch: 3\n"

DEFAULT_AZURE = ("simplified", "default", "azure", "default for an Azure Batch account")
DEFAULT_LOCAL = ("classic", "default", "local", "default for the local backend")
SET = "set in pool_specification.node_communication_mode"


@pytest.mark.parametrize(
    ("credentials", "mode_line", "expected_backend", "expected_mode"),
    [
        (AZURE, None, ("azure", "credentials.batch.account_service_url names an Azure Batch account"), DEFAULT_AZURE),
        (AZURE, "simplified", ("azure", None), ("simplified", "set", "azure", SET)),
        (AZURE, "classic", ("azure", None), ("classic", "set", "azure", SET)),
        (LOCAL, None, ("local", "credentials.batch.account_service_url is a local:// URL"), DEFAULT_LOCAL),
        (LOCAL, "simplified", ("local", None), ("simplified", "set", "local", SET)),
        (NO_URL, None, ("local", "credentials.batch has no account_service_url"), DEFAULT_LOCAL),
        (NO_BATCH, None, ("local", "the credentials have no batch section"), DEFAULT_LOCAL),
        (None, None, ("local", "no credentials file given"), DEFAULT_LOCAL),
        (
            BROKEN,
            None,
            (None, "the credentials file did not load"),
            (None, "default", None, "not set, and the credentials file did not load"),
        ),
        (
            INVALID,
            None,
            (None, "the credentials file has errors"),
            (None, "default", None, "not set, and the credentials file has errors"),
        ),
        (BROKEN, "classic", (None, None), ("classic", "set", None, SET)),
    ],
)
def test_backend_and_node_communication_mode(
    tmp_path: Path,
    credentials: str | None,
    mode_line: str | None,
    expected_backend: tuple[str | None, str | None],
    expected_mode: tuple[str | None, str, str | None, str],
) -> None:
    text = POOL + (f"  node_communication_mode: {mode_line}\n" if mode_line else "")
    (tmp_path / "pool.yaml").write_text(text)
    paths = {"pool": tmp_path / "pool.yaml"}
    if credentials is not None:
        (tmp_path / "credentials.yaml").write_text(credentials)
        paths["credentials"] = tmp_path / "credentials.yaml"
    config = load_config_set(ConfigPaths.resolve(None, **paths))
    assert config.pool is not None, config.findings

    backend = batch_backend(config)
    assert backend.kind == expected_backend[0]
    if expected_backend[1] is not None:
        assert backend.reason == expected_backend[1]

    mode = node_communication_mode(config)
    assert mode is not None
    assert (mode["mode"], mode["source"], mode["backend"], mode["reason"]) == expected_mode

    summary = summarize_pool(config)
    assert summary is not None
    assert summary["node_communication_mode"] == mode
    assert summary["batch_backend"] == {"kind": backend.kind, "reason": backend.reason}


def test_no_pool_no_mode(tmp_path: Path) -> None:
    (tmp_path / "credentials.yaml").write_text(AZURE)
    config = load_config_set(ConfigPaths.resolve(None, credentials=tmp_path / "credentials.yaml"))
    assert node_communication_mode(config) is None
    assert batch_backend(config).kind == "azure"


def test_summary_names_no_image_source_for_a_typo(tmp_path: Path) -> None:
    (tmp_path / "pool.yaml").write_text(
        POOL.replace(
            "    platform_image: {publisher: Canonical, offer: ubuntu-24_04-lts, sku: server}\n",
            "    custom_image:\n      image_uri: [https://a.blob.core.windows.net/v/x.vhd]\n"
            "      node_agent: batch.node.ubuntu 22.04\n",
        )
    )
    config = load_config_set(ConfigPaths.resolve(None, pool=tmp_path / "pool.yaml"))
    summary = summarize_pool(config)
    assert summary is not None
    assert summary["image_source"] == {"kind": "custom_image.none"}


CUSTOM_POOL = """\
pool_specification:
  id: p
  vm_configuration:
    custom_image:
      image_uris: [local://localstore1/vhds/u.vhd]
      node_agent: batch.node.ubuntu 22.04
  vm_size: STANDARD_D2_V2
  vm_count: {dedicated: 1}
"""
USER_SUBSCRIPTION = "custom images need a User Subscription Batch account (the credentials do not say which mode the account is in)"


@pytest.mark.parametrize(
    ("credentials", "requirements"),
    [(AZURE, [USER_SUBSCRIPTION]), (LOCAL, []), (NO_BATCH, []), (None, [])],
    ids=["azure", "local", "no-batch", "no-credentials"],
)
def test_the_user_subscription_requirement_is_shown_for_an_azure_account_only(
    tmp_path: Path, credentials: str | None, requirements: list[str]
) -> None:
    (tmp_path / "pool.yaml").write_text(CUSTOM_POOL)
    if credentials:
        (tmp_path / "credentials.yaml").write_text(credentials)
    summary = summarize_pool(load_config_set(ConfigPaths.resolve(tmp_path)))
    assert summary is not None
    assert summary["requirements"] == requirements
