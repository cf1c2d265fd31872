"""Secrets never survive redaction."""

from __future__ import annotations

import pytest

from shipyard.redact import is_secret_key, redact, strip_query


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("GET https://a.blob.core.windows.net/c/b.vhd?sv=2024&sig=SeCrEt%3D failed", "SeCrEt"),
        ("source 'http://127.0.0.1:10000/acct/c/b?se=2030&sp=r&sig=abc123xyz'", "abc123xyz"),
        ("token sig=abc123xyz&se=2030 in text", "abc123xyz"),
        ("https://user:SECRETPASS@acct9.blob.core.windows.net/v/u.vhd: no link", "SECRETPASS"),
        ("https://a.blob.core.windows.net/v/u.vhd%3Fsv=1%26sig=SECRETENC: no blob", "SECRETENC"),
        ("https://a.blob.core.windows.net/v/u.vhd%3Fsv%3D1%26sig%3DSECRETENC: no blob", "SECRETENC"),
        ("https://a.blob.core.windows.net/v/u.vhd#sig=SECRETFRAG", "SECRETFRAG"),
    ],
)
def test_redact_removes_sas(text: str, leak: str) -> None:
    assert leak not in redact(text)
    assert "<redacted>" in redact(text)


def test_redact_literal_secrets_and_strip_query() -> None:
    assert redact("key is Zm9vYmFyS2V5", ["Zm9vYmFyS2V5"]) == "key is <redacted>"
    assert strip_query("https://a.blob.core.windows.net/c/b.vhd?sv=1&sig=x#frag") == "https://a.blob.core.windows.net/c/b.vhd"
    assert strip_query("https://u:pw@a.blob.core.windows.net/c/b.vhd") == "https://a.blob.core.windows.net/c/b.vhd"


@pytest.mark.parametrize("key", ["account_key", "password", "passphrase", "auth_key", "db_password", "admin_password"])
def test_secret_keys(key: str) -> None:
    assert is_secret_key(key)


def test_non_secret_keys() -> None:
    assert not is_secret_key("account") and not is_secret_key("username")
