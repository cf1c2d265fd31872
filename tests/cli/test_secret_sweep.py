"""Secrets in use never show: known secrets planted in the credentials (the Azurite account keys,
which the commands really sign with), the PFX passphrase and a value to encrypt; every command that
touches them runs at -vv (every request logged) and with --raw, and nothing captured (stdout,
stderr, log records) holds one of them, or a SAS signature made from them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fixtures.uploads import azurite_credentials

PASSPHRASE = "planted-pfx-passphrase-0123456789"
VALUE = "planted-connection-string;AccountKey=c2VjcmV0"
SIG = re.compile(r"sig=[A-Za-z0-9%+/=]{20,}")


def test_no_command_shows_a_secret(cli, write_config, azurite, tmp_path: Path, shipyard_home, ubuntu_vhd: Path,
                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    configdir = write_config(config="batch_shipyard:\n  storage_account_settings: sa1\n",
                             credentials=azurite_credentials(azurite))
    image = ubuntu_vhd
    uploaded = cli("image", "upload", image, "--storage-account", "sa1", "--configdir", configdir, "-vv", "--raw")
    assert uploaded.code == 0, uploaded.err
    uri = uploaded.json()["uri"]
    (configdir / "pool.yaml").write_text(
        "pool_specification:\n  id: sweep\n  vm_configuration:\n    custom_image:\n"
        f"      image_uris: [{uri}]\n      node_agent: batch.node.ubuntu 22.04\n"
        "  vm_size: STANDARD_D2S_V3\n  vm_count: {dedicated: 41, low_priority: 0}\n")
    runs = [uploaded]
    for args in (
        ("config", "check", "--configdir", configdir, "-vv"),
        ("config", "check", "--configdir", configdir, "--raw"),
        ("image", "inspect", uri, "--configdir", configdir, "-vv"),
        ("image", "check", uri, "--configdir", configdir, "-vv", "--raw"),
        ("image", "verify", uri, "--configdir", configdir, "-vv"),
        ("image", "replicate", "--configdir", configdir, "--update-pool", "-y", "-vv"),  # a SAS for the copy
        ("pool", "add", "--dry-run", "--configdir", configdir, "-vv"),
        ("image", "publish", "--dry-run", "--configdir", configdir, "-vv"),
        ("cert", "create", "--configdir", configdir, "--file-prefix", tmp_path / "enc", "--pfx-password",
         PASSPHRASE, "-vv"),
        ("encrypt", VALUE, "--configdir", configdir, "-vv"),
        ("encrypt", "--file", configdir / "credentials.yaml", "--in-place", "--configdir", configdir, "-vv"),
        ("image", "inspect", uri, "--configdir", configdir, "-vv"),  # the key, decrypted on use
    ):
        runs.append(cli(*args))
    secrets = [*azurite.keys.values(), PASSPHRASE, VALUE]
    captured = "\n".join([r.out + r.err for r in runs] + [caplog.text])
    for secret in secrets:
        assert secret not in captured
    assert not SIG.search(captured), SIG.search(captured)
    codes = [r.code for r in runs]
    assert codes[-1] == 0 and codes[-2] == 0, runs[-1].err  # the sweep ran the commands, not their errors


ENV_SECRET = "planted-environment-secret-4567"


def test_no_vault_command_shows_a_secret(cli, write_config, azurite, tmp_path: Path, shipyard_home, ubuntu_vhd: Path,
                                         caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same sweep over the vault: the storage keys stored in the (local) vault and used from there
    (``account_key_keyvault_secret_id``, then the whole file by ``credentials_secret_id``), the PFX
    passphrase, and a secret of environment variables; every vault command at -vv and --raw."""
    import io

    caplog.set_level("DEBUG")
    plain = write_config(config="batch_shipyard:\n  storage_account_settings: sa1\n",
                         credentials=azurite_credentials(azurite) + "  keyvault:\n    uri: local://sweep\n")
    uploaded = cli("image", "upload", ubuntu_vhd, "--storage-account", "sa1", "--configdir", plain, "--raw")
    assert uploaded.code == 0, uploaded.err
    uri = uploaded.json()["uri"]
    monkeypatch.setattr("sys.stdin", io.StringIO(azurite.keys["acct1"]))
    runs = [cli("keyvault", "add", "acct1-key", "--stdin", "--configdir", plain, "-vv", "--raw")]
    env = tmp_path / "env.json"
    env.write_text(f'{{"TOKEN": "{ENV_SECRET}"}}')
    by_reference = tmp_path / "by-reference"
    by_reference.mkdir()
    (by_reference / "credentials.yaml").write_text(
        "credentials:\n  keyvault:\n    uri: local://sweep\n  storage:\n    sa1:\n      account: acct1\n"
        f"      account_key_keyvault_secret_id: local://sweep/secrets/acct1-key\n"
        f"      blob_endpoint: {azurite.endpoint('acct1')}\n")
    (by_reference / "config.yaml").write_text("batch_shipyard:\n  storage_account_settings: sa1\n")
    thin = tmp_path / "thin"
    thin.mkdir()
    (thin / "credentials.yaml").write_text("credentials:\n  keyvault:\n    uri: local://sweep\n"
                                           "    credentials_secret_id: local://sweep/secrets/creds\n")
    for args in (
        ("keyvault", "add", "creds", "--configdir", plain, "-vv", "--raw"),
        ("keyvault", "add", "env", "--file", env, "--configdir", plain, "-vv"),
        ("keyvault", "list", "--configdir", plain, "-vv"),
        ("keyvault", "list", "--configdir", plain, "--raw"),
        ("keyvault", "get", "acct1-key", "--configdir", plain, "-vv"),
        ("keyvault", "get", "env", "--configdir", plain, "--raw", "--out", tmp_path / "env.out"),
        ("image", "inspect", uri, "--configdir", by_reference, "-vv"),  # the key fetched from the vault, used
        ("image", "check", uri, "--configdir", by_reference, "-vv", "--raw"),
        ("config", "check", "--configdir", thin, "-vv", "--raw"),  # the whole file from the vault
        ("image", "inspect", uri, "--configdir", thin, "-vv"),
        ("cert", "create", "--configdir", plain, "--file-prefix", tmp_path / "enc", "--pfx-password", PASSPHRASE),
        ("cert", "add", "--configdir", plain, "-vv", "--raw"),
        ("cert", "list", "--configdir", plain, "-vv"),
        ("cert", "add", "--file", tmp_path / "enc.pfx", "--pfx-password", "wrong-" + PASSPHRASE, "--name", "x",
         "--configdir", plain, "-vv"),  # refused: the wrong passphrase is not shown either
        ("keyvault", "get", "missing", "--configdir", plain, "-vv"),
        ("keyvault", "del", "env", "--configdir", plain, "-y", "-vv"),
    ):
        runs.append(cli(*args))
    captured = "\n".join([r.out + r.err for r in runs] + [caplog.text])
    for secret in [*azurite.keys.values(), PASSPHRASE, "wrong-" + PASSPHRASE, ENV_SECRET]:
        assert secret not in captured
    assert not SIG.search(captured), SIG.search(captured)
    codes = [r.code for r in runs]
    assert codes == [0] * 14 + [1, 2, 0], [(c, r.err) for c, r in zip(codes, runs, strict=True)]
