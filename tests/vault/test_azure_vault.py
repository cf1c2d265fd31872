"""``shipyard.vault.azure.AzureVault`` against the HTTPS test server: what the real ``SecretClient``
and ``CertificateClient`` send (a challenge answered with a managed-identity token, then bearer
requests), and how Key Vault's answers and failures come back."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from fixtures.keyvault_service import KeyVaultService
from shipyard.config.certificate import create_certificate
from shipyard.config.credentials import Credentials
from shipyard.errors import VaultError, VaultObjectNotFound
from shipyard.redact import redact
from shipyard.vault import open_vault
from shipyard.vault.azure import AzureVault
from shipyard.vault.protocol import find_certificate




def _vault(keyvault: KeyVaultService) -> AzureVault:
    vault = open_vault(keyvault.url, Credentials())
    assert isinstance(vault, AzureVault)
    return vault


def test_a_secret_round_trip_goes_with_a_bearer_token_after_the_challenge(keyvault: KeyVaultService) -> None:
    vault = _vault(keyvault)
    item = vault.set_secret("storage-key", "s3cr3t-value-for-tests", tags={"kind": "key"}, content_type="text/plain")
    assert item.name == "storage-key" and item.version and item.tags == {"kind": "key"}
    secret = vault.get_secret("storage-key")
    assert secret.value.get_secret_value() == "s3cr3t-value-for-tests"
    assert "s3cr3t-value-for-tests" not in repr(secret)
    assert redact("it was s3cr3t-value-for-tests") == "it was <redacted>"  # read once: never shown again
    sent = keyvault.server.sent(path=r"^/secrets/storage-key")
    assert [r.method for r in sent] == ["PUT", "PUT", "GET"]  # the challenge (no token, no body), then with one
    assert sent[0].authorization == "" and sent[0].body == b""
    assert sent[1].authorization.startswith("Bearer token-") and sent[1].json["value"] == "s3cr3t-value-for-tests"
    assert sent[1].authorization.removeprefix("Bearer ") in keyvault.server.tokens_issued
    assert "vault" in keyvault.server.tokens_issued[0]  # the token's audience is Key Vault's


def test_versions_list_and_delete(keyvault: KeyVaultService) -> None:
    vault = _vault(keyvault)
    first = vault.set_secret("creds", "one")
    vault.set_secret("creds", "two")
    assert vault.get_secret("creds").value.get_secret_value() == "two"
    assert vault.get_secret("creds", first.version).value.get_secret_value() == "one"
    assert [s.name for s in vault.list_secrets()] == ["creds"]
    vault.delete_secret("creds")  # waits for the soft delete
    assert keyvault.server.sent("GET", r"^/deletedsecrets/creds")
    assert vault.list_secrets() == []
    with pytest.raises(VaultObjectNotFound, match="reading secret 'creds'"):
        vault.get_secret("creds")


def test_a_missing_secret_is_not_found_and_a_refusal_names_the_role(keyvault: KeyVaultService) -> None:
    vault = _vault(keyvault)
    with pytest.raises(VaultObjectNotFound) as missing:
        vault.get_secret("nothing-here")
    assert missing.value.exit_status == 2
    keyvault.forbid = True
    with pytest.raises(VaultError) as refused:
        vault.get_secret("nothing-here")
    assert "refused the credentials" in refused.value.message and "Key Vault Secrets User" in (refused.value.hint or "")


def test_a_certificate_is_imported_from_its_pfx_listed_by_thumbprint_and_deleted(
    keyvault: KeyVaultService, tmp_path: Path
) -> None:
    made = create_certificate(tmp_path / "enc", "pfx-passphrase-1", key_bits=3072)
    vault = _vault(keyvault)
    item = vault.import_certificate("sha1-cert", made.pfx.read_bytes(), made.passphrase)
    assert item.thumbprint == made.sha1_thumbprint
    assert item.secret_id == f"{keyvault.url}/secrets/sha1-cert"  # versionless: the extension follows renewals
    imported = keyvault.server.sent("POST", r"^/certificates/sha1-cert/import")[-1].json
    assert base64.b64decode(imported["value"]) == made.pfx.read_bytes() and imported["pwd"] == "pfx-passphrase-1"
    assert imported["policy"]["secret_props"]["contentType"] == "application/x-pkcs12"
    assert imported["policy"]["key_props"]["exportable"] is True
    found = find_certificate(vault, made.sha1_thumbprint.upper())
    assert found is not None and found.name == "sha1-cert"
    assert [s.name for s in vault.list_secrets()] == []  # the certificate's own secret is the vault's, not listed
    vault.delete_certificate("sha1-cert")
    assert vault.list_certificates() == []
    with pytest.raises(VaultObjectNotFound):
        vault.delete_certificate("sha1-cert")
