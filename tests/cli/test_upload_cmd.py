"""``shipyard image upload``, in-process, on the local store and Azurite.

The command lives in ``shipyard.cli.storage_cmd``; ``shipyard.cli.image_cmd`` adds it to the
``image`` group, and the tests run it through ``shipyard.cli.main`` as a user would. The image
(``image``) and the credentials (``credentials``, on both stores) come from ``tests/cli/conftest.py``.
"""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path

import pytest

from fixtures.images import write_dynamic_vhd
from fixtures.azurite import MIB
from fixtures.uploads import DATA_BYTES, azurite_credentials, local_credentials, upload_raw
from shipyard.image.vhd import convert_command, make_fixed_footer
from shipyard.storage.digest import scan_file
from shipyard.storage.ranges import find_data_extents, total_bytes

UPLOAD_KEYS = [
    "uri", "size", "bytes_sent", "bytes_skipped", "content_md5", "sparse_sha256", "seconds", "resumed", "verify",
]

pytestmark = pytest.mark.usefixtures("shipyard_home")  # the local store under the test's own home


def test_image_group_has_the_storage_commands(cli) -> None:
    from shipyard.cli import image_cmd, storage_cmd

    assert image_cmd.image_group.commands["upload"] is storage_cmd.upload
    assert image_cmd.image_group.commands["replicate"] is storage_cmd.replicate
    shown = cli("image", "upload", "--help")
    assert shown.code == 0 and shown.out.startswith("Usage: shipyard image upload [OPTIONS] IMAGE")


def test_upload_then_rerun_sends_nothing_again(
    cli, write_config, credentials: str, image: Path, container: str
) -> None:
    configdir = write_config(credentials=credentials)
    first = upload_raw(cli, configdir, image, "--verify", "--container", container)
    assert first.code == 0, first.err
    data = first.json()
    assert list(data) == UPLOAD_KEYS
    assert data["size"] == image.stat().st_size
    assert data["bytes_sent"] == DATA_BYTES
    assert data["bytes_sent"] + data["bytes_skipped"] == data["size"]
    assert data["sparse_sha256"] == scan_file(image).digest
    assert data["content_md5"] is None  # only with --content-md5
    assert data["verify"]["ok"] is True and data["verify"]["bytes_read"] == DATA_BYTES
    assert data["resumed"] is False
    assert data["uri"].endswith(f"/{container}/disk.vhd") and "?" not in data["uri"]
    assert first.err == ""

    again = upload_raw(cli, configdir, image, "--container", container)
    assert again.code == 0, again.err
    second = again.json()
    assert second["resumed"] is True and second["bytes_sent"] == 0
    assert second["bytes_skipped"] == data["size"] and second["sparse_sha256"] == data["sparse_sha256"]
    assert second["verify"] is None
    assert second["uri"] == data["uri"]


def test_upload_prints_a_summary_for_people(cli, write_config, image: Path) -> None:
    configdir = write_config(credentials=local_credentials())
    result = cli("image", "upload", image, "--storage-account", "sa2", "--configdir", configdir,
                 "--container", "images", "--name", "ubuntu.vhd", "--parallelism", "2")
    assert result.code == 0, result.err
    assert "local://acct2/images/ubuntu.vhd" in result.out and f"{DATA_BYTES:,} bytes sent" in result.out


def test_upload_refuses_a_dynamic_vhd_and_names_convert(cli, write_config, image: Path, tmp_path) -> None:
    dynamic = write_dynamic_vhd(image, tmp_path / "dynamic.vhd")
    result = cli("image", "upload", dynamic, "--storage-account", "sa1",
                 "--configdir", write_config(credentials=local_credentials()))
    assert result.code == 2 and result.out == ""
    assert result.err.count("\n") == 1 and result.err.startswith("shipyard: error: ")
    assert "vhd.format" in result.err
    assert f"`{convert_command(dynamic)}`" in result.err  # the command for this file, not SRC DST placeholders
    assert not (tmp_path / "home" / "storage").exists() or not any((tmp_path / "home" / "storage").rglob("*.vhd"))


def test_upload_refuses_a_misaligned_vhd(cli, write_config, tmp_path: Path) -> None:
    odd = tmp_path / "odd.vhd"
    size = 24 * MIB + 4096
    with open(odd, "wb") as handle:
        os.truncate(handle.fileno(), size)
        os.pwrite(handle.fileno(), make_fixed_footer(size), size)
    result = cli("image", "upload", odd, "--storage-account", "sa1",
                 "--configdir", write_config(credentials=local_credentials()))
    assert result.code == 2 and "vhd.alignment" in result.err and f"`{convert_command(odd)}`" in result.err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--storage-account", "nosuch"], "unknown storage link 'nosuch'"),
        (["--storage-account", "sa1", "--container", "Bad_Name"], "not a valid container name"),
        (["--storage-account", "sa1", "--parallelism", "0"], "--parallelism"),
    ],
)
def test_upload_bad_input_is_one_line_exit_2(cli, write_config, image: Path, args, needle) -> None:
    result = cli("image", "upload", image, *args, "--configdir", write_config(credentials=local_credentials()))
    assert result.code == 2 and result.out == ""
    assert result.err.count("\n") == 1 and needle in result.err


def test_upload_without_credentials_is_exit_2(cli, image: Path) -> None:
    result = cli("image", "upload", image, "--storage-account", "sa1")
    assert result.code == 2 and "credentials" in result.err


def test_upload_of_a_changed_source_refuses_to_resume(cli, write_config, image: Path) -> None:
    configdir = write_config(credentials=local_credentials())
    assert upload_raw(cli, configdir, image).code == 0
    os.pwrite(os.open(image, os.O_WRONLY), b"\x02" * 512, 0)
    refused = upload_raw(cli, configdir, image)
    assert refused.code == 1 and "different source" in refused.err and "--overwrite" in refused.err
    redone = upload_raw(cli, configdir, image, "--overwrite")
    assert redone.code == 0 and redone.json()["resumed"] is False


def test_upload_never_shows_the_account_key(
    cli, write_config, azurite, image: Path, caplog, container: str
) -> None:
    configdir = write_config(credentials=azurite_credentials(azurite))
    caplog.set_level(logging.DEBUG)
    ok = cli("image", "upload", image, "--storage-account", "sa1", "--configdir", configdir, "-vv", "--debug",
             "--container", container)
    assert ok.code == 0, ok.err
    wrong = base64.b64encode(b"not-the-key-of-acct1-0123456789x").decode()
    bad_config = write_config(credentials=azurite_credentials(azurite).replace(azurite.keys["acct1"], wrong))
    failed = cli("image", "upload", image, "--storage-account", "sa1", "--configdir", bad_config,
                 "--name", "other.vhd", "-vv", "--container", container)
    assert failed.code == 1 and failed.err.strip().splitlines()[-1].startswith("shipyard: error: ")
    for key in (*azurite.keys.values(), wrong):
        for text in (ok.out, ok.err, failed.out, failed.err, caplog.text):
            assert key not in text


def _log_lines(err: str) -> list[str]:
    """stderr's log records without their timestamps: 'LEVEL logger: message'."""
    return [line.split(" ", 2)[2] for line in err.splitlines() if line[:4].isdigit()]


def test_upload_logs_each_network_operation_at_v(cli, write_config, azurite, image: Path, container: str) -> None:
    configdir = write_config(credentials=azurite_credentials(azurite))
    quiet = cli("image", "upload", image, "--storage-account", "sa1", "--configdir", configdir,
                "--container", container, "--raw")
    assert quiet.code == 0 and quiet.err == ""  # no -v: nothing logged
    endpoint = azurite.endpoint("acct1")
    uri = f"{endpoint}/{container}/disk.vhd"
    verbose = cli("image", "upload", image, "--storage-account", "sa1", "--configdir", configdir,
                  "--container", container, "--name", "v.vhd", "--raw", "-v")
    assert verbose.code == 0, verbose.err
    verbose.json()  # stdout stays JSON
    uri = f"{endpoint}/{container}/v.vhd"
    size = image.stat().st_size
    with open(image, "rb") as handle:
        extents = find_data_extents(handle.fileno(), size)  # what the filesystem holds: whole blocks
    storage_lines = [line for line in _log_lines(verbose.err) if line.split(" ")[1].startswith("shipyard.storage")]
    assert storage_lines == [
        f"INFO shipyard.storage.azure: storage account 'acct1' at {endpoint} (shared key; connect timeout 10 s, "
        "read timeout 60 s; retries: up to 5 after a 5xx, 2 after a connection that fails or stalls)",
        f"INFO shipyard.storage.azure: creating container '{container}' in {endpoint}",
        f"INFO shipyard.storage.azure: reading the properties of {uri}",
        f"INFO shipyard.storage.azure: checking that container '{container}' exists in {endpoint}",
        f"INFO shipyard.storage.azure: {uri}: no such blob",
        f"INFO shipyard.storage.azure: creating page blob {uri} ({size:,} bytes)",
        f"INFO shipyard.storage.upload: uploading disk.vhd to {uri}: {len(extents)} data extents "
        f"({total_bytes(extents):,} of {size:,} bytes), 4 at a time; holes are never read",
        # the boot sector, the run across 4 MiB (two Put Pages), the lone page, the MiB, the footer
        f"INFO shipyard.storage.upload: sent 6 ranges ({DATA_BYTES:,} bytes) to {uri}; "
        f"{size - DATA_BYTES:,} bytes skipped (zeros, or already there); sparse digest {scan_file(image).digest}",
        f"INFO shipyard.storage.azure: setting the metadata of {uri}",
    ]
    debug = cli("image", "upload", image, "--storage-account", "sa1", "--configdir", configdir,
                "--container", container, "--name", "vv.vhd", "--raw", "-vv")
    puts = [line for line in _log_lines(debug.err) if line.startswith("DEBUG shipyard.storage.azure: PUT ")]
    assert puts.count(f"DEBUG shipyard.storage.azure: PUT {endpoint}/{container}/vv.vhd (comp=page): 201") == 6
    for key in azurite.keys.values():
        assert key not in quiet.err + verbose.err + debug.err


def test_upload_to_a_stalled_endpoint_gives_up_with_one_line(
    cli, write_config, image: Path, stalled_port: int
) -> None:
    key = base64.b64encode(b"stalled-endpoint-key-0123456789!").decode()
    endpoint = f"http://127.0.0.1:{stalled_port}/acct1"
    configdir = write_config(credentials=(
        "credentials:\n  storage:\n    sa1:\n      account: acct1\n"
        f"      account_key: {key}\n      blob_endpoint: {endpoint}\n"
    ))
    result = cli("image", "upload", image, "--storage-account", "sa1", "--configdir", configdir,
                 "--timeout", "0.2", "-v")
    assert result.code == 1 and result.out == ""
    last = result.err.splitlines()[-1]
    assert last == (
        f"shipyard: error: creating container 'vhds': cannot reach storage account 'acct1' at {endpoint}: "
        "no connection within 0.2 s (3 attempts)"
    )
    retries = [line for line in _log_lines(result.err) if "retrying" in line]
    assert [line.split(" (retry ")[1].split(",")[0] for line in retries] == ["1 of 2", "2 of 2"]
    assert all("after no connection within 0.2 s" in line for line in retries)
    assert key not in result.err


def test_timeout_must_be_positive(cli, write_config, image: Path) -> None:
    configdir = write_config(credentials=local_credentials())
    result = cli("image", "upload", image, "--storage-account", "sa1", "--configdir", configdir, "--timeout", "0")
    assert result.code == 2 and result.err.count("\n") == 1 and "--timeout" in result.err
