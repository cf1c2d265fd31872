"""Key Vault references in ``credentials.yaml``, fetched when a command uses them
(``config.decrypt.reveal`` through ``vault.resolve``): ``*_keyvault_secret_id`` and
``credentials.keyvault.credentials_secret_id`` (Batch Shipyard's whole-file form)."""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.azure_server import serve
from fixtures.keyvault_service import KeyVaultService
from shipyard.azure.credentials import batch_credential, storage_credential
from shipyard.config.credentials import Credentials, StorageLink
from shipyard.config.credentials_secret import decode_credentials, encode_credentials
from shipyard.config.decrypt import register_credentials
from shipyard.config.kinds import ConfigKind
from shipyard.config.loader import load_config_set
from shipyard.config.paths import ConfigPaths
from shipyard.errors import ConfigError, ShipyardError, VaultObjectNotFound
from shipyard.redact import redact
from shipyard.vault import resolve
from shipyard.vault.local import LocalVault


@pytest.fixture
def installed() -> Iterator[None]:
    resolve.install()
    try:
        yield
    finally:
        resolve.uninstall()


@pytest.mark.usefixtures("installed")
def test_a_storage_key_from_the_local_vault(shipyard_home: Path) -> None:
    LocalVault("mine").set_secret("acct-key", "a-storage-key-from-the-vault==")
    link = StorageLink(account="acct1", account_key_keyvault_secret_id="local://mine/secrets/acct-key")
    credential = storage_credential(link)
    assert credential.shared_key and credential.sdk["account_key"] == "a-storage-key-from-the-vault=="
    assert redact("key a-storage-key-from-the-vault== here") == "key <redacted> here"


@pytest.mark.usefixtures("installed")
def test_a_missing_reference_names_its_key(shipyard_home: Path) -> None:
    link = StorageLink(account="acct1", account_key_keyvault_secret_id="local://mine/secrets/nothing")
    with pytest.raises(VaultObjectNotFound) as caught:
        storage_credential(link)
    assert caught.value.message.startswith("credentials.storage (account acct1).account_key_keyvault_secret_id: ")
    bad = StorageLink(account="acct1", account_key_keyvault_secret_id="https://kv1.vault.azure.net/keys/x")
    with pytest.raises(ConfigError, match="is not a Key Vault secret id"):
        storage_credential(bad)


def test_without_the_cli_a_reference_is_refused_in_one_line() -> None:
    link = StorageLink(account="acct1", account_key_keyvault_secret_id="local://mine/secrets/k")
    with pytest.raises(ConfigError, match="cannot be fetched here"):
        storage_credential(link)


def test_a_given_key_wins_over_its_reference(shipyard_home: Path) -> None:
    link = StorageLink(account="acct1", account_key="the-given-key-1234",
                       account_key_keyvault_secret_id="local://mine/secrets/none")
    assert storage_credential(link).sdk["account_key"] == "the-given-key-1234"  # nothing fetched


@pytest.mark.usefixtures("installed")
def test_the_batch_key_from_azure_key_vault_with_the_keyvault_aad(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    servers = serve(tmp_path, monkeypatch)
    server = next(servers)
    try:
        keyvault = KeyVaultService(server)
        keyvault.put_secret("batch-key", base64.b64encode(b"batch-account-key-bytes").decode())
        credentials = Credentials.model_validate({
            "keyvault": {"uri": server.url},
            "batch": {"account_service_url": "https://acct.westeurope.batch.azure.com",
                      "account_key_keyvault_secret_id": f"{server.url}/secrets/batch-key"}})
        register_credentials(credentials)
        credential = batch_credential(credentials)
        assert credential.shared_key and credential.sdk.named_key == (
            "acct", base64.b64encode(b"batch-account-key-bytes").decode())
        got = server.sent("GET", r"^/secrets/batch-key/?$")
        assert got[-1].authorization.removeprefix("Bearer ") in server.tokens_issued
        batch_credential(credentials)  # fetched once per process
        assert len(server.sent("GET", r"^/secrets/batch-key/?$")) == len(got)
    finally:
        next(servers, None)


def test_batch_shipyards_credentials_secret_form_round_trips() -> None:
    data = {"credentials": {"storage": {"sa": {"account": "a", "account_key": "k" * 20}}}}
    encoded = encode_credentials(data)
    assert json.loads(zlib.decompress(base64.b64decode(encoded))) == data  # Batch Shipyard's form
    assert decode_credentials(encoded, "kv/creds").data == data
    assert decode_credentials("credentials:\n  storage: {}\n", "kv/creds").data == {"credentials": {"storage": {}}}
    with pytest.raises(ShipyardError, match="no credentials document"):
        decode_credentials(encode_credentials({"pool_specification": {}}), "kv/creds")


def _write_credentials(directory: Path, secret_id: str) -> Path:
    directory.mkdir(exist_ok=True)
    path = directory / "credentials.yaml"
    path.write_text(f"credentials:\n  keyvault:\n    uri: local://mine\n    credentials_secret_id: {secret_id}\n")
    return path


@pytest.mark.usefixtures("installed")
def test_credentials_secret_id_loads_the_vaults_credentials(shipyard_home: Path, tmp_path: Path) -> None:
    stored = {"credentials": {"storage": {"sa1": {"account": "acct1", "account_key": "vault-held-key-1234",
                                                  "endpoint": "local"}}}}
    LocalVault("mine").set_secret("creds", encode_credentials(stored), tags={"type": "json"})
    path = _write_credentials(tmp_path / "c", "local://mine/secrets/creds")
    config = load_config_set(ConfigPaths({ConfigKind.CREDENTIALS: path}))
    assert config.errors == []
    credentials = config.credentials
    assert credentials is not None and credentials.storage["sa1"].account == "acct1"
    assert credentials.keyvault is not None and credentials.keyvault.uri == "local://mine"  # the file's own section
    assert str(config.files[ConfigKind.CREDENTIALS].document.path) == "keyvault:mine/secrets/creds"


@pytest.mark.usefixtures("installed")
def test_credentials_not_in_the_vault_are_an_error_at_the_key(shipyard_home: Path, tmp_path: Path) -> None:
    path = _write_credentials(tmp_path / "c", "local://mine/secrets/gone")
    config = load_config_set(ConfigPaths({ConfigKind.CREDENTIALS: path}))
    [error] = config.errors
    assert error.location is not None and (error.location.file, error.location.line, error.location.path) == (
        str(path), 4, "credentials.keyvault.credentials_secret_id")
    assert error.message == "credentials not fetched from the vault: local://mine has no secret 'gone'"
    assert config.credentials is None


@pytest.mark.usefixtures("installed")
def test_vault_credentials_that_do_not_validate_are_errors_of_the_secret(shipyard_home: Path, tmp_path: Path) -> None:
    LocalVault("mine").set_secret("creds", encode_credentials({"credentials": {"storage": {"sa1": {"endpoint": 3}}}}))
    path = _write_credentials(tmp_path / "c", "local://mine/secrets/creds")
    config = load_config_set(ConfigPaths({ConfigKind.CREDENTIALS: path}))
    assert config.errors and all(e.location and e.location.file == "keyvault:mine/secrets/creds"
                                 for e in config.errors)


def test_a_library_load_keeps_the_files_own_credentials(shipyard_home: Path, tmp_path: Path) -> None:
    path = _write_credentials(tmp_path / "c", "local://mine/secrets/creds")
    config = load_config_set(ConfigPaths({ConfigKind.CREDENTIALS: path}))
    assert config.errors == [] and [w.message for w in config.findings] == [
        "the credentials are in a vault, which is not reached here: this file's own keys are used"]
