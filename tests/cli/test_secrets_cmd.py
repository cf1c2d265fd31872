"""`shipyard cert create` and `shipyard encrypt`: Batch Shipyard's credential encryption, made here."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from shipyard.config.certificate import load_private_key
from shipyard.config.encryption import decrypt, is_encrypted

STORAGE_KEY = "c2hpcHlhcmQtc2VjcmV0LXN0b3JhZ2Uta2V5LXZhbHVl"  # planted: must never be shown
AAD_SECRET = "aad-client-secret-planted-0123456789"
CONFIG = """\
# the batch shipyard settings
batch_shipyard:
  storage_account_settings: mystorage  # the link for shipyard's own blobs
"""
CREDENTIALS = f"""\
# credentials for the tests
credentials:
  batch:
    account_service_url: https://mybatch.westeurope.batch.azure.com
    aad:
      directory_id: tenant-1
      application_id: app-1
      auth_key: {AAD_SECRET}  # the principal's secret
  storage:
    mystorage:
      account: acct1
      account_key: {STORAGE_KEY}
      endpoint: core.windows.net
"""


@pytest.fixture
def configdir(write_config) -> Path:
    return write_config(config=CONFIG, credentials=CREDENTIALS)


def created(cli, configdir: Path, tmp_path: Path) -> dict:
    result = cli("cert", "create", "--configdir", configdir, "--file-prefix", tmp_path / "enc", "--raw")
    assert result.code == 0, result.err
    return result.json()


def test_cert_create_writes_the_pair_and_records_it(cli, configdir: Path, tmp_path: Path) -> None:
    made = created(cli, configdir, tmp_path)
    pfx, pem = Path(made["pfx"]), Path(made["public_key_pem"])
    assert stat.S_IMODE(pfx.stat().st_mode) == 0o600 and pem.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert len(made["sha1_thumbprint"]) == 40
    text = (configdir / "config.yaml").read_text()
    assert "# the batch shipyard settings" in text and "# the link for shipyard's own blobs" in text
    from shipyard.config.given import load_given

    encryption = load_given(configdir, {}).general.batch_shipyard.encryption
    assert encryption.enabled and encryption.pfx.filename == str(pfx) and encryption.public_key_pem == str(pem)
    assert encryption.pfx.sha1_thumbprint == made["sha1_thumbprint"]
    key = load_private_key(pfx, encryption.pfx.passphrase.get_secret_value())
    assert key.key_size >= 3072
    again = cli("cert", "create", "--configdir", configdir, "--file-prefix", tmp_path / "enc")
    assert again.code == 2 and "exists" in again.err  # nothing overwritten


def test_encrypt_a_value_and_a_file_in_place(cli, configdir: Path, tmp_path: Path) -> None:
    made = created(cli, configdir, tmp_path)
    from shipyard.config.given import load_given

    passphrase = load_given(configdir, {}).general.batch_shipyard.encryption.pfx.passphrase.get_secret_value()
    key = load_private_key(Path(made["pfx"]), passphrase)
    one = cli("encrypt", "a-connection-string;" + "x" * 500, "--configdir", configdir)
    assert one.code == 0 and is_encrypted(one.out.strip())
    assert decrypt(one.out.strip(), key) == "a-connection-string;" + "x" * 500

    credentials = configdir / "credentials.yaml"
    done = cli("encrypt", "--file", credentials, "--in-place", "--configdir", configdir, "--raw")
    assert done.code == 0, done.err
    assert sorted(done.json()["encrypted"]) == ["credentials.batch.aad.auth_key", "credentials.storage.mystorage.account_key"]
    text = credentials.read_text()
    assert STORAGE_KEY not in text and AAD_SECRET not in text
    assert "# credentials for the tests" in text and "# the principal's secret" in text and "account: acct1" in text
    loaded = load_given(configdir, {}).credentials
    assert decrypt(loaded.storage["mystorage"].account_key.get_secret_value(), key) == STORAGE_KEY
    assert decrypt(loaded.batch.aad.auth_key.get_secret_value(), key) == AAD_SECRET
    # twice is refused, and nothing changes
    twice = cli("encrypt", "--file", credentials, "--in-place", "--configdir", configdir)
    assert twice.code == 1 and "encrypted already" in twice.err and credentials.read_text() == text
    # the encrypted files still load and check: no plaintext is needed for that
    assert cli("config", "check", "--configdir", configdir).code == 0
    for output in (one.out, one.err, done.out, done.err, twice.err):
        assert STORAGE_KEY not in output and AAD_SECRET not in output and passphrase not in output


def test_legacy_files_are_refused_twice_too(cli, configdir: Path, tmp_path: Path) -> None:
    created(cli, configdir, tmp_path)
    credentials = configdir / "credentials.yaml"
    assert cli("encrypt", "--file", credentials, "--in-place", "--legacy", "--configdir", configdir).code == 0
    text = credentials.read_text()
    again = cli("encrypt", "--file", credentials, "--in-place", "--configdir", configdir)
    assert again.code == 1 and "encrypted already" in again.err and credentials.read_text() == text


@pytest.mark.parametrize(("args", "message"), [
    (("encrypt", "v"), "no certificate to encrypt with"),
    (("encrypt",), "give a VALUE, or --file FILE --in-place"),
    (("encrypt", "--file", "credentials.yaml"), "pass --in-place"),
    (("cert", "create"), "pass --pfx-password"),
])
def test_bad_input_is_one_line(cli, write_config, args: tuple[str, ...], message: str) -> None:
    directory = write_config(pool="pool_specification: {id: p}\n") if args[0] == "cert" else None
    result = cli(*args, *(("--configdir", directory) if directory else ()))
    assert result.code == 2 and message in result.err and len(result.err.strip().splitlines()) <= 2
