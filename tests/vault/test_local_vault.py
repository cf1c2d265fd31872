"""The local vault: Key Vault's secrets and certificates under the shipyard home, in 0600 files."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from shipyard.config.certificate import create_certificate
from shipyard.errors import ShipyardError, VaultObjectNotFound
from shipyard.vault import open_vault
from shipyard.vault.local import LocalVault
from shipyard.vault.protocol import find_certificate


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_secrets_keep_versions_in_private_files(tmp_path: Path) -> None:
    vault = open_vault("local://mine", home=tmp_path)
    assert isinstance(vault, LocalVault) and vault.uri == "local://mine"
    first = vault.set_secret("key", "value-one", tags={"a": "b"}, content_type="text/plain")
    second = vault.set_secret("key", "value-two")
    assert first.id == f"local://mine/secrets/key/{first.version}" and first.version != second.version
    assert vault.get_secret("key").value.get_secret_value() == "value-two"
    assert vault.get_secret("key", first.version).value.get_secret_value() == "value-one"
    assert vault.get_secret("key", first.version).item.tags == {"a": "b"}
    assert [(s.name, s.version) for s in vault.list_secrets()] == [("key", second.version)]
    root = tmp_path / "vaults" / "mine"
    assert _mode(root) == 0o700 and _mode(root / "secrets") == 0o700
    assert _mode(root / "secrets" / "key.json") == 0o600
    assert not list((root / "secrets").glob(".*"))  # no partial file left behind
    vault.delete_secret("key")
    assert vault.list_secrets() == []
    with pytest.raises(VaultObjectNotFound, match="local://mine has no secret 'key'") as missing:
        vault.get_secret("key")
    assert missing.value.exit_status == 2
    with pytest.raises(VaultObjectNotFound):
        vault.delete_secret("key")


def test_a_name_that_is_no_key_vault_name_is_refused_before_any_file(tmp_path: Path) -> None:
    vault = LocalVault("mine", tmp_path)
    with pytest.raises(ShipyardError, match="not a Key Vault name"):
        vault.set_secret("../escape", "x")
    assert not (tmp_path / "vaults").exists()


def test_certificates_by_name_and_thumbprint(tmp_path: Path) -> None:
    made = create_certificate(tmp_path / "c", "pass-phrase-1", key_bits=3072)
    vault = LocalVault("mine", tmp_path / "home")
    item = vault.import_certificate("enc", made.pfx.read_bytes(), "pass-phrase-1")
    assert (item.name, item.thumbprint, item.secret_id) == ("enc", made.sha1_thumbprint, "local://mine/secrets/enc")
    assert item.expires is not None and item.subject and "shipyard" in item.subject
    assert find_certificate(vault, made.sha1_thumbprint.upper()) == item
    assert vault.certificate_pfx("enc") == (made.pfx.read_bytes(), "pass-phrase-1")
    assert _mode(tmp_path / "home" / "vaults" / "mine" / "certificates" / "enc.json") == 0o600
    with pytest.raises(ShipyardError, match="wrong passphrase"):
        vault.import_certificate("bad", made.pfx.read_bytes(), "not-the-passphrase")
    assert [c.name for c in vault.list_certificates()] == ["enc"]
    vault.delete_certificate("enc")
    assert vault.list_certificates() == [] and find_certificate(vault, made.sha1_thumbprint) is None
