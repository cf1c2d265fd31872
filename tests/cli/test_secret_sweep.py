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
