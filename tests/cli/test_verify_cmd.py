"""``shipyard image verify URI [--against IMAGE]`` and ``image upload --content-md5``, as a user runs them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from fixtures.azurite import MIB
from fixtures.uploads import local_credentials, upload_raw
from shipyard.config.credentials import StorageLink
from shipyard.storage.digest import scan_file
from shipyard.storage.open import open_store

pytestmark = pytest.mark.usefixtures("shipyard_home")

VERIFY_KEYS = {
    "uri", "ok", "complete", "size_ok", "blob_sha256", "expected_sha256", "recorded_sha256", "source_sha256",
    "mismatched", "bytes_read", "requests", "seconds",
}


def _uploaded(cli, write_config, credentials: str, image: Path, container: str) -> tuple[Path, str]:
    configdir = write_config(credentials=credentials)
    result = upload_raw(cli, configdir, image, "--container", container)
    assert result.code == 0, result.err
    return configdir, result.json()["uri"]


def test_verify_a_good_upload(cli, write_config, credentials: str, image: Path, container: str) -> None:
    configdir, uri = _uploaded(cli, write_config, credentials, image, container)
    plain = cli("image", "verify", uri, "--configdir", configdir)
    assert plain.code == 0, plain.err
    assert plain.out.startswith(f"ok {uri}: sparse digest {scan_file(image).digest} matches the one recorded at upload")
    against = cli("image", "verify", uri, "--against", image, "--configdir", configdir, "--raw")
    assert against.code == 0, against.err
    data = against.json()
    assert set(data) == VERIFY_KEYS and data["ok"] and data["complete"] and data["mismatched"] == []
    assert data["source_sha256"] == data["blob_sha256"] == data["recorded_sha256"]


def test_verify_names_the_range_that_differs(cli, write_config, image: Path) -> None:
    configdir, uri = _uploaded(cli, write_config, local_credentials(), image, "vhds")
    blob = open_store(StorageLink(account="acct1", endpoint="local"))
    blob.put_pages("vhds", "disk.vhd", 16 * MIB, b"\x00" * 512 + b"\x01" * 512)  # the 1 MiB run, changed
    bad = cli("image", "verify", uri, "--against", image, "--configdir", configdir)
    assert bad.code == 1 and bad.out == ""
    assert bad.err == (
        f"{uri}: the blob's content does not match the image: bytes {16 * MIB}-{17 * MIB} ({MIB:,} bytes) differ\n"
    )
    raw = cli("image", "verify", uri, "--configdir", configdir, "--raw")
    assert raw.code == 1 and raw.json()["ok"] is False and raw.json()["mismatched"] == []


def test_verify_of_an_unfinished_upload_is_exit_1(cli, write_config, image: Path) -> None:
    configdir, uri = _uploaded(cli, write_config, local_credentials(), image, "vhds")
    store = open_store(StorageLink(account="acct1", endpoint="local"))
    props = store.get_properties("vhds", "disk.vhd")
    store.set_metadata("vhds", "disk.vhd", {**props.metadata, "shipyard_upload": "in_progress"})
    result = cli("image", "verify", uri, "--configdir", configdir)
    assert result.code == 1 and "the upload is unfinished" in result.err


@pytest.mark.parametrize(
    ("uri", "code", "needle"),
    [
        ("local://acct1/vhds/disk.vhd?sig=secret-sas", 2, "must be bare, with no query string (no SAS)"),
        ("local://nosuch/vhds/disk.vhd", 2, "in none of the credentials' storage links"),
        ("local://acct1/vhds/missing.vhd", 1, "does not exist"),
    ],
)
def test_verify_bad_input_is_one_line(cli, write_config, image: Path, uri: str, code: int, needle: str) -> None:
    configdir, _ = _uploaded(cli, write_config, local_credentials(), image, "vhds")
    result = cli("image", "verify", uri, "--configdir", configdir)
    assert result.code == code and result.out == ""
    assert result.err.count("\n") == 1 and needle in result.err and "secret-sas" not in result.err


def test_upload_with_content_md5_prints_it_and_takes_it_from_the_cache_next_time(
    cli, write_config, image: Path
) -> None:
    configdir = write_config(credentials=local_credentials())
    md5 = hashlib.md5(image.read_bytes()).hexdigest()
    first = cli("image", "upload", image, "--storage-account", "sa1", "--configdir", configdir, "--content-md5")
    assert first.code == 0, first.err
    assert f"content md5 {md5}\n" in first.out
    again = cli("image", "upload", image, "--storage-account", "sa2", "--configdir", configdir, "--content-md5",
                "--raw")
    assert again.code == 0 and again.json()["content_md5"] == md5
    copy = open_store(StorageLink(account="acct2", endpoint="local")).get_properties("vhds", "disk.vhd")
    assert copy.content_md5.hex() == md5
    third = cli("image", "upload", image, "--storage-account", "sa3", "--configdir", configdir, "--content-md5")
    assert f"content md5 {md5} (cached)\n" in third.out


def test_on_a_terminal_each_stage_after_the_transfer_has_a_bar(write_config, image: Path, shipyard_home) -> None:
    import sys

    from fixtures.terminal import ANSI, run_on_terminal

    configdir = write_config(credentials=local_credentials())
    code, shown = run_on_terminal(
        [sys.executable, "-m", "shipyard", "image", "upload", str(image), "--storage-account", "sa1",
         "--configdir", str(configdir), "--verify", "--content-md5"],
        {"SHIPYARD_HOME": str(shipyard_home)},
    )
    assert code == 0, shown
    assert ANSI in shown  # drawn on a terminal
    for bar in ("uploading disk.vhd", "verifying", "content md5"):
        assert bar in shown
    assert "content md5 " + hashlib.md5(image.read_bytes()).hexdigest() in shown
