"""Key Vault ids as the config files write them."""

from __future__ import annotations

import pytest

from shipyard.config.vault_ids import VaultId, check_name, parse_vault_id, parse_vault_uri
from shipyard.errors import ConfigError


@pytest.mark.parametrize(("text", "expected"), [
    ("https://kv1.vault.azure.net/secrets/storage-key",
     VaultId("https://kv1.vault.azure.net", "secrets", "storage-key")),
    ("https://KV1.vault.azure.net/secrets/k/0123456789abcdef0123456789abcdef",
     VaultId("https://kv1.vault.azure.net", "secrets", "k", "0123456789abcdef0123456789abcdef")),
    ("https://kv.vault.usgovcloudapi.net/secrets/k/", VaultId("https://kv.vault.usgovcloudapi.net", "secrets", "k")),
    ("https://127.0.0.1:8443/secrets/k", VaultId("https://127.0.0.1:8443", "secrets", "k")),
    ("local://myvault/secrets/creds", VaultId("local://myvault", "secrets", "creds")),
])
def test_ids_parse(text: str, expected: VaultId) -> None:
    parsed = parse_vault_id(text, path="x")
    assert parsed == expected
    assert parse_vault_id(str(parsed), path="x") == parsed  # its text is an id again


def test_the_vault_name() -> None:
    assert parse_vault_id("https://kv1.vault.azure.net/secrets/a", path="x").vault_name == "kv1"
    assert parse_vault_id("local://mine/secrets/a", path="x").vault_name == "mine"
    assert parse_vault_id("local://mine/secrets/a", path="x").is_local


@pytest.mark.parametrize("text", [
    "http://kv1.vault.azure.net/secrets/a",  # not https
    "https://kv1.vault.azure.net/keys/a",  # another collection
    "https://kv1.vault.azure.net/secrets",  # no name
    "https://kv1.vault.azure.net/secrets/a/b/c",
    "https://<vault_name>.vault.azure.net/secrets/<secret_id>",  # the template's placeholders
    "https://kv1.vault.azure.net/secrets/under_score",
    "local://my_vault/secrets/a",
    "kv1/secrets/a",
])
def test_what_is_no_id_is_a_config_error_at_its_key(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_vault_id(text, path="credentials.batch.account_key_keyvault_secret_id")
    assert caught.value.path == "credentials.batch.account_key_keyvault_secret_id"


def test_vault_uris() -> None:
    assert parse_vault_uri("https://KV1.vault.azure.net/") == "https://kv1.vault.azure.net"
    assert parse_vault_uri("local://v1") == "local://v1"
    for bad in ("https://kv1.vault.azure.net/secrets", "ftp://x", "local://", "https://kv?x=1"):
        with pytest.raises(ConfigError):
            parse_vault_uri(bad)


def test_names() -> None:
    assert check_name("a-B-3") == "a-B-3"
    for bad in ("", "a_b", "a/b", "x" * 128):
        with pytest.raises(ConfigError):
            check_name(bad)
