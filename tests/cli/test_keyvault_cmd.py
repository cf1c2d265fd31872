"""`shipyard keyvault add|get|del|list` and `cert add|list|del` on the local vault: what a user types,
what comes back, and bad input, on purpose. (The same commands on Azure Key Vault:
``tests/vault/test_azure_vault.py`` and ``test_pool_azure_keyvault.py``.)"""

from __future__ import annotations

import base64
import json
import stat
import zlib
from pathlib import Path

import pytest

from shipyard.config.certificate import create_certificate

pytestmark = pytest.mark.usefixtures("shipyard_home")
STORAGE_KEY = "a2V5dmF1bHQtcGxhbnRlZC1zdG9yYWdlLWtleQ=="
CREDENTIALS = f"""\
credentials:
  keyvault:
    uri: local://mine
  storage:
    sa1:
      account: acct1
      account_key: {STORAGE_KEY}
      endpoint: local
"""


@pytest.fixture
def configdir(write_config) -> Path:
    return write_config(credentials=CREDENTIALS)


def test_the_credentials_go_into_the_vault_and_back_as_batch_shipyard_stored_them(
    cli, configdir: Path, tmp_path: Path, write_config
) -> None:
    added = cli("keyvault", "add", "creds", "--configdir", configdir, "--raw")
    assert added.code == 0, added.err
    secret_id = added.json()["id"]
    assert secret_id.startswith("local://mine/secrets/creds/") and added.json()["tags"] == {"type": "json"}
    listed = cli("keyvault", "list", "--configdir", configdir)
    assert listed.code == 0 and "creds" in listed.out and "type=json" in listed.out
    shown = cli("keyvault", "get", "creds", "--configdir", configdir, "--raw")
    assert shown.code == 0 and shown.json()["length"] > 0 and "value" not in shown.json()
    out = tmp_path / "creds.b64"
    written = cli("keyvault", "get", "creds", "--configdir", configdir, "--out", out)
    assert written.code == 0 and stat.S_IMODE(out.stat().st_mode) == 0o600
    stored = json.loads(zlib.decompress(base64.b64decode(out.read_text())))
    assert stored == {"credentials": {"storage": {"sa1": {"account": "acct1", "account_key": STORAGE_KEY,
                                                          "endpoint": "local"}}}}  # the keyvault section stays out
    for result in (added, listed, shown, written):
        assert STORAGE_KEY not in result.out + result.err

    # a credentials file with nothing but its keyvault section now checks against the vault's
    thin = tmp_path / "thin"
    thin.mkdir()
    (thin / "credentials.yaml").write_text(f"credentials:\n  keyvault:\n    uri: local://mine\n"
                                           f"    credentials_secret_id: {secret_id.rsplit('/', 1)[0]}\n")
    checked = cli("config", "check", "--configdir", thin, "--raw")
    assert checked.code == 0, checked.out
    assert STORAGE_KEY not in checked.out + checked.err


def test_single_values_and_files(cli, configdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("value-from-stdin-123\n"))
    added = cli("keyvault", "add", "one", "--stdin", "--tag", "use=key", "--configdir", configdir, "--raw")
    assert added.code == 0 and added.json()["tags"] == {"use": "key"}
    env = tmp_path / "env.json"
    env.write_text('{"DB_PASSWORD": "env-secret-value-1"}')
    assert cli("keyvault", "add", "env", "--file", env, "--configdir", configdir).code == 0
    out = tmp_path / "one.txt"
    assert cli("keyvault", "get", "one", "--configdir", configdir, "--out", out).code == 0
    assert out.read_text() == "value-from-stdin-123"
    names = [s["name"] for s in cli("keyvault", "list", "--configdir", configdir, "--raw").json()]
    assert names == ["env", "one"]


@pytest.mark.parametrize(("args", "message"), [
    (["keyvault", "get", "nothing"], "local://mine has no secret 'nothing'"),
    (["keyvault", "add", "bad_name"], "is not a Key Vault secret name"),
    (["keyvault", "del", "nothing"], "pass -y to confirm"),
    (["keyvault", "add", "x", "--tag", "novalue"], "--tag 'novalue': write it KEY=VALUE"),
    (["keyvault", "list", "--keyvault-uri", "http://kv1.vault.azure.net"], "is not a vault URI"),
    (["cert", "del", "sha1$0123456789012345678901234567890123456789", "-y"], "has no certificate with thumbprint"),
    (["cert", "add"], "no PFX to add"),
])
def test_bad_input_is_one_line_and_exit_2(cli, configdir: Path, args: list[str], message: str) -> None:
    result = cli(*args, "--configdir", configdir)
    assert result.code == 2, (result.out, result.err)
    assert message in result.err and len(result.err.strip().splitlines()) <= 2 and "Traceback" not in result.err


def test_no_vault_at_all(cli, write_config) -> None:
    directory = write_config(credentials="credentials:\n  storage: {}\n")
    result = cli("keyvault", "list", "--configdir", directory)
    assert result.code == 2 and "no vault: pass --keyvault-uri URI, or set credentials.keyvault.uri" in result.err


def test_get_out_never_overwrites(cli, configdir: Path, tmp_path: Path) -> None:
    assert cli("keyvault", "add", "creds", "--configdir", configdir).code == 0
    out = tmp_path / "exists.txt"
    out.write_text("keep me")
    result = cli("keyvault", "get", "creds", "--configdir", configdir, "--out", out)
    assert result.code == 2 and "exists" in result.err and out.read_text() == "keep me"


def test_delete_with_y(cli, configdir: Path) -> None:
    assert cli("keyvault", "add", "creds", "--configdir", configdir).code == 0
    assert cli("keyvault", "del", "creds", "--configdir", configdir, "-y").code == 0
    assert cli("keyvault", "list", "--configdir", configdir, "--raw").json() == []


def test_certificates_in_the_local_vault(cli, configdir: Path, tmp_path: Path) -> None:
    made = create_certificate(tmp_path / "app", "app-passphrase-12", key_bits=3072)
    added = cli("cert", "add", "--file", made.pfx, "--pfx-password", "app-passphrase-12", "--configdir", configdir,
                "--raw")
    assert added.code == 0, added.err
    assert added.json()["name"] == f"sha1-{made.sha1_thumbprint}"
    wrong = cli("cert", "add", "--file", made.pfx, "--pfx-password", "not-it", "--configdir", configdir)
    assert wrong.code == 1 and "wrong passphrase" in wrong.err and "not-it" not in wrong.err
    listed = cli("cert", "list", "--configdir", configdir, "--raw").json()
    assert [(c["name"], c["sha1_thumbprint"]) for c in listed] == [(f"sha1-{made.sha1_thumbprint}",
                                                                    made.sha1_thumbprint)]
    table = cli("cert", "list", "--configdir", configdir)
    assert made.sha1_thumbprint in table.out
    deleted = cli("cert", "del", f"sha1${made.sha1_thumbprint.upper()}", "--configdir", configdir, "-y")
    assert deleted.code == 0 and cli("cert", "list", "--configdir", configdir, "--raw").json() == []
    for result in (added, wrong, table, deleted):
        assert "app-passphrase-12" not in result.out + result.err
