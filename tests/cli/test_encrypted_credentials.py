"""Encrypted credentials in use: `image upload` decrypts the storage key it needs when the private
key is at hand (Azurite checks it: a wrong key would be refused), refuses in one line when it is not,
and `config check` never needs it."""

from __future__ import annotations

from pathlib import Path

from fixtures.uploads import azurite_credentials, upload_raw, write_fixed_vhd


def test_an_encrypted_storage_key_is_decrypted_where_it_is_used(cli, write_config, azurite, tmp_path: Path,
                                                                shipyard_home) -> None:
    configdir = write_config(config="batch_shipyard:\n  storage_account_settings: sa1\n",
                             credentials=azurite_credentials(azurite))
    (tmp_path / "keys").mkdir()
    made = cli("cert", "create", "--configdir", configdir, "--file-prefix", tmp_path / "keys" / "enc", "--raw")
    assert made.code == 0, made.err
    encrypted = cli("encrypt", "--file", configdir / "credentials.yaml", "--in-place", "--configdir", configdir)
    assert encrypted.code == 0, encrypted.err
    text = (configdir / "credentials.yaml").read_text()
    assert all(key not in text for key in azurite.keys.values())

    image = write_fixed_vhd(tmp_path / "a.vhd")
    uploaded = upload_raw(cli, configdir, image)
    assert uploaded.code == 0, uploaded.err  # Azurite took the decrypted key
    assert cli("config", "check", "--configdir", configdir).code == 0

    (tmp_path / "keys" / "enc.pfx").rename(tmp_path / "elsewhere.pfx")  # the private key is not here
    refused = upload_raw(cli, configdir, image)
    assert refused.code == 1 and len(refused.err.strip().splitlines()) <= 2
    assert "is encrypted, and its private key" in refused.err and "enc.pfx" in refused.err
    assert cli("config", "check", "--configdir", configdir).code == 0  # no plaintext needed to check
    for output in (uploaded.out, uploaded.err, refused.out, refused.err):
        assert all(key not in output for key in azurite.keys.values())
