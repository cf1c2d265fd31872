"""`image inspect URI` and `image check URI`: a real image read in place from a page blob, on both stores.

The image is built by `image build` from the Ubuntu fixture tree and uploaded by `image upload`
to the embedded local store and to Azurite; each command must give the very facts and results
it gives for the file, and download only a small part of the blob. The image (``ubuntu_vhd``)
comes from ``tests/cli/conftest.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fixtures.image_cli import GPU_POOL
from fixtures.images import write_dynamic_vhd
from shipyard.config.credentials import StorageLink
from shipyard.checks.image import INSPECT_KEYS
from shipyard.storage.open import open_store
from shipyard.storage.store import PageBlobStore

WRONG_KEY = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktISE="
BLOB_KEYS = {"uri", "size_bytes", "bytes_read", "requests"}

pytestmark = pytest.mark.usefixtures("shipyard_home")  # the local store under the test's own home


class Storage:
    """One store kind: its credentials file, its URIs and a store to write blobs with directly."""

    def __init__(self, kind: str, link: StorageLink, home: Path, container: str) -> None:
        self.kind, self.link, self.container = kind, link, container
        self.store: PageBlobStore = open_store(link, home)

    def credentials(self, key: str | None = None) -> str:
        link = self.link
        lines = ["credentials:", "  storage:", "    sa1:", f"      account: {link.account}"]
        if link.is_local:
            lines.append("      endpoint: local")
        else:
            lines += [f"      account_key: {key or link.account_key.get_secret_value()}",
                      f"      blob_endpoint: {link.blob_endpoint}"]
        return "\n".join(lines) + "\n"

    def uri(self, blob: str, container: str | None = None) -> str:
        return self.store.blob_uri(container or self.container, blob)

    def put(self, blob: str, data: bytes, metadata: dict[str, str] | None = None) -> str:
        self.store.ensure_container(self.container)
        size = -(-len(data) // 512) * 512
        self.store.create_page_blob(self.container, blob, size, overwrite=True, metadata=metadata)
        data = data.ljust(size, b"\0")
        for offset in range(0, size, 4 << 20):
            piece = data[offset : offset + (4 << 20)]
            if piece.strip(b"\0"):
                self.store.put_pages(self.container, blob, offset, piece)
        return self.uri(blob)


@pytest.fixture(params=["local", "azurite"])
def storage(request: pytest.FixtureRequest, shipyard_home: Path, container: str) -> Storage:
    if request.param == "local":
        return Storage("local", StorageLink(account="acct1", endpoint="local"), shipyard_home, container)
    return Storage("azurite", request.getfixturevalue("azurite").link("acct1"), shipyard_home, container)


@pytest.fixture
def uploaded(cli, write_config, storage: Storage, ubuntu_vhd: Path) -> tuple[str, Path]:
    """The image uploaded by `image upload`: its URI, and a configdir with the credentials and a GPU pool."""
    configdir = write_config(credentials=storage.credentials(), pool=GPU_POOL)
    sent = cli("image", "upload", ubuntu_vhd, "--storage-account", "sa1", "--container", storage.container,
               "--configdir", configdir, "--raw")
    assert sent.code == 0, sent.err
    assert sent.json()["uri"] == storage.uri("ubuntu.vhd")
    return sent.json()["uri"], configdir


def without_path(data: dict) -> dict:
    return {**data, "format": {**data["format"], "path": None}}


def test_inspect_of_a_blob_reports_what_the_file_does(cli, uploaded, ubuntu_vhd: Path) -> None:
    uri, configdir = uploaded
    from_file = cli("image", "inspect", ubuntu_vhd, "--raw").json()
    result = cli("image", "inspect", uri, "--configdir", configdir, "--raw")
    assert result.code == 0, result.err
    data = result.json()
    assert tuple(data) == (*INSPECT_KEYS, "blob") and tuple(from_file) == INSPECT_KEYS
    blob = data.pop("blob")
    assert without_path(data) == without_path(from_file) and data["format"]["path"] == uri
    size = ubuntu_vhd.stat().st_size
    assert set(blob) == BLOB_KEYS and blob["uri"] == uri and blob["size_bytes"] == size
    assert 0 < blob["bytes_read"] < size // 10, blob  # only what the readers touch
    assert 2 <= blob["requests"] <= 20, blob  # chunks, cached: not a request per read
    text = cli("image", "inspect", uri, "--configdir", configdir)
    assert text.code == 0
    read = f"{blob['bytes_read']:,} of {size:,} bytes ({100 * blob['bytes_read'] / size:.3g}%) in {blob['requests']} requests"
    assert re.search(rf"^image +{re.escape(uri)}\s*\nread +{re.escape(read)}\s*$", text.out, re.MULTILINE), text.out
    assert re.search(r"^os +Ubuntu 22\.04", text.out, re.MULTILINE)


def test_check_of_a_blob_gives_the_files_results(cli, uploaded, ubuntu_vhd: Path) -> None:
    uri, configdir = uploaded
    from_file = cli("image", "check", ubuntu_vhd, "--configdir", configdir, "--raw")
    result = cli("image", "check", uri, "--configdir", configdir, "--raw")
    assert result.code == from_file.code == 0, result.err
    report, expected = result.json(), from_file.json()
    assert list(report) == ["image", "blob", "ok", "checks"] and list(expected) == ["image", "ok", "checks"]
    assert report["image"] == uri and report["checks"] == expected["checks"] and report["ok"] is True
    got = {c["id"]: c["status"] for c in report["checks"]}
    assert got["gpu.driver"] == got["os.node_agent"] == got["vhd.format"] == "pass"  # the pool spec was used
    blob = report["blob"]
    assert set(blob) == BLOB_KEYS and blob["size_bytes"] == ubuntu_vhd.stat().st_size
    assert 0 < blob["bytes_read"] < blob["size_bytes"] // 10
    text = cli("image", "check", uri, "--configdir", configdir)
    lines = text.out.strip().splitlines()
    assert text.code == 0 and lines[0].startswith(f"read: {blob['bytes_read']:,} of {blob['size_bytes']:,} bytes")
    assert re.match(rf"^{re.escape(uri)}: OK \(", lines[-1])


def test_a_failing_blob_fails_with_hints_for_a_downloaded_copy(cli, write_config, storage: Storage,
                                                                ubuntu_vhd: Path, tmp_path: Path) -> None:
    raw = tmp_path / "disk.raw"
    raw.write_bytes(ubuntu_vhd.read_bytes()[:-512])
    uri = storage.put("images/dyn.vhd", write_dynamic_vhd(raw, tmp_path / "dyn.vhd").read_bytes())
    configdir = write_config(credentials=storage.credentials())
    result = cli("image", "check", uri, "--configdir", configdir, "--raw")
    assert result.code == 1
    checks = {c["id"]: c for c in result.json()["checks"]}
    assert checks["vhd.format"]["status"] == "fail" and checks["docker.installed"]["status"] == "pass"
    inspected = cli("image", "inspect", uri, "--configdir", configdir, "--raw")
    assert inspected.code == 0 and inspected.json()["format"]["type"] == "vhd-dynamic"
    problems = {p["id"]: p for p in inspected.json()["format"]["azure_problems"]}
    assert problems["vhd.format"]["fix"] == (  # the blob's own fix: on a downloaded copy, by its bare URI
        f"download {uri} to dyn.vhd first, then: convert it with `shipyard image convert dyn.vhd dyn-fixed.vhd`: "
        "it writes a fixed VHD rounded up to a whole MiB")


def test_a_sas_uri_is_refused_without_echoing_the_query(cli, uploaded) -> None:
    uri, configdir = uploaded
    for command in ("inspect", "check"):
        result = cli("image", command, f"{uri}?sv=2024-01-01&sig=c2VjcmV0LXNpZ25hdHVyZQ%3D&se=2030", "--configdir",
                     configdir)
        assert result.code == 2 and result.err.count("\n") == 1, result.err
        assert "no query string (no SAS)" in result.err and f"use {uri}" in result.err
        assert "sig=" not in result.err and "c2VjcmV0" not in result.err and "2024-01-01" not in result.err


def test_a_uri_of_no_storage_link_or_without_credentials_is_a_usage_error(cli, write_config,
                                                                           storage: Storage) -> None:
    other = storage.uri("ubuntu.vhd").replace("acct1", "acct2")
    configdir = write_config(credentials=storage.credentials())
    for command in ("inspect", "check"):
        result = cli("image", command, other, "--configdir", configdir)
        assert result.code == 2 and result.err.count("\n") == 1, result.err
        assert "storage account 'acct2' is in none of the credentials' storage links" in result.err
        assert "credentials.storage has sa1 (" in result.err
        bare = cli("image", command, storage.uri("ubuntu.vhd"))
        assert bare.code == 2 and bare.err.count("\n") == 1
        assert "is a storage URI: pass --credentials FILE or --configdir DIR" in bare.err
    bad = cli("image", "inspect", "s3://bucket/ubuntu.vhd", "--configdir", configdir)
    assert bad.code == 2 and "unsupported scheme 's3'" in bad.err


def test_a_missing_blob_or_container_is_one_line_exit_1(cli, uploaded, storage: Storage) -> None:
    _, configdir = uploaded  # the container exists: it holds the uploaded image
    for command in ("inspect", "check"):
        missing = cli("image", command, storage.uri("nope.vhd"), "--configdir", configdir)
        assert missing.code == 1 and missing.err.count("\n") == 1, missing.err
        assert f"blob {storage.uri('nope.vhd')} does not exist" in missing.err
        gone = cli("image", command, storage.uri("ubuntu.vhd", "nocontainer"), "--configdir", configdir)
        assert gone.code == 1 and gone.err.count("\n") == 1, gone.err
        assert "container 'nocontainer' does not exist" in gone.err and "Traceback" not in gone.err


def test_a_blob_that_is_no_image_or_an_unfinished_upload_is_refused(cli, write_config, storage: Storage) -> None:
    configdir = write_config(credentials=storage.credentials())
    text = storage.put("notes.txt", b"hello, this is not a disk\n" * 2000)
    result = cli("image", "check", text, "--configdir", configdir)
    assert result.code == 2 and result.err.count("\n") == 1
    assert "shipyard: error: not a disk image: no VHD footer, partition table or known filesystem" in result.err
    half = storage.put("half.vhd", bytes(1 << 20), {"shipyard_upload": "in_progress"})
    unfinished = cli("image", "inspect", half, "--configdir", configdir)
    assert unfinished.code == 1 and f"{half} is an unfinished upload" in unfinished.err
    assert "rerun `shipyard image upload`" in unfinished.err


def test_a_wrong_key_is_one_line_without_either_key(cli, write_config, azurite, container: str,
                                                    shipyard_home: Path) -> None:
    storage = Storage("azurite", azurite.link("acct1"), shipyard_home, container)
    configdir = write_config(credentials=storage.credentials(key=WRONG_KEY))
    result = cli("image", "check", storage.uri("ubuntu.vhd"), "--configdir", configdir)
    assert result.code == 1 and result.err.count("\n") == 1, result.err
    assert "wrong account key?" in result.err
    assert WRONG_KEY not in result.err + result.out and azurite.keys["acct1"] not in result.err + result.out


def test_an_existing_file_whose_name_looks_like_a_uri_is_read_as_a_path(
    cli, tmp_path: Path, monkeypatch, ubuntu_vhd: Path
) -> None:
    """`foo://u.vhd` that exists (the directory `foo:`) is a file, as before URIs were read."""
    import shutil

    monkeypatch.chdir(tmp_path)
    (tmp_path / "foo:").mkdir()
    shutil.copy(ubuntu_vhd, tmp_path / "foo:" / "u.vhd")
    result = cli("image", "inspect", "foo://u.vhd", "--raw")
    assert result.code == 0, result.err
    assert result.json()["os"]["id"] == "ubuntu"
