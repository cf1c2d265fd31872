"""The embedded local store: layout, sparse files, exact page ranges, atomic metadata, sparse copy."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from shipyard.config.credentials import StorageLink
from shipyard.errors import StorageError, UsageError
from shipyard.storage.local import LocalPageBlobStore
from shipyard.storage.open import open_store
from shipyard.storage.store import CopyRefusedError, PageBlobStore

MIB = 1024 * 1024


@pytest.fixture
def local(tmp_path: Path) -> LocalPageBlobStore:
    store = open_store(
        StorageLink(account="acct1", endpoint="local"), tmp_path / "home"
    )
    assert isinstance(store, LocalPageBlobStore) and isinstance(store, PageBlobStore)
    store.ensure_container("vhds")
    return store


def test_layout_maps_uris_one_to_one(local: LocalPageBlobStore, tmp_path: Path) -> None:
    local.create_page_blob("vhds", "a/b.vhd", 8 * MIB, metadata={"k": "v"})
    assert local.blob_uri("vhds", "a/b.vhd") == "local://acct1/vhds/a/b.vhd"
    data = tmp_path / "home" / "storage" / "acct1" / "vhds" / "a" / "b.vhd"
    assert data.stat().st_size == 8 * MIB
    assert data.stat().st_blocks == 0  # created sparse
    props = local.get_properties("vhds", "a/b.vhd")
    assert (
        props.size_bytes == 8 * MIB
        and props.metadata == {"k": "v"}
        and props.content_md5 is None
    )


def test_page_ranges_are_exact_pages_not_filesystem_blocks(
    local: LocalPageBlobStore,
) -> None:
    local.create_page_blob("vhds", "d.vhd", 4 * MIB)
    local.put_pages(
        "vhds", "d.vhd", 4096 + 512, b"\x01" * 512
    )  # inside one 4 KiB fs block
    local.put_pages("vhds", "d.vhd", MIB, b"\x02" * 8192)
    assert local.get_page_ranges("vhds", "d.vhd") == [(4608, 5120), (MIB, MIB + 8192)]
    assert local.read_range("vhds", "d.vhd", 4608, 513) == b"\x01" * 512 + b"\x00"


def test_put_pages_checks_alignment_and_size(local: LocalPageBlobStore) -> None:
    local.create_page_blob("vhds", "d.vhd", 16 * MIB)
    with pytest.raises(StorageError, match="not 512-aligned or over 4 MiB"):
        local.put_pages("vhds", "d.vhd", 100, b"x" * 512)
    with pytest.raises(StorageError, match="not 512-aligned or over 4 MiB"):
        local.put_pages("vhds", "d.vhd", 0, b"x" * (4 * MIB + 512))
    with pytest.raises(StorageError, match="past the end"):
        local.put_pages("vhds", "d.vhd", 16 * MIB, b"x" * 512)


def test_clear_pages_takes_the_pages_out_of_the_page_ranges(local: LocalPageBlobStore) -> None:
    local.create_page_blob("vhds", "d.vhd", 16 * MIB)
    local.put_pages("vhds", "d.vhd", 0, b"x" * (3 * 512))
    local.put_pages("vhds", "d.vhd", 8 * MIB, b"y" * 4096)
    local.clear_pages("vhds", "d.vhd", 512, 512)
    assert local.get_page_ranges("vhds", "d.vhd") == [(0, 512), (1024, 1536), (8 * MIB, 8 * MIB + 4096)]
    assert local.read_range("vhds", "d.vhd", 0, 1536) == b"x" * 512 + bytes(512) + b"x" * 512


def test_metadata_and_md5_are_written_atomically(
    local: LocalPageBlobStore, tmp_path: Path
) -> None:
    local.create_page_blob("vhds", "d.vhd", 4096)
    local.set_metadata("vhds", "d.vhd", {"shipyard_upload": "complete"})
    local.set_content_md5("vhds", "d.vhd", hashlib.md5(b"").digest())
    props = local.get_properties("vhds", "d.vhd")
    assert props.metadata == {"shipyard_upload": "complete"}
    assert props.content_md5 == hashlib.md5(b"").digest()
    meta_dir = tmp_path / "home" / "storage" / "acct1" / ".shipyard-meta" / "vhds"
    assert sorted(p.name for p in meta_dir.iterdir()) == [
        "d.vhd.json"
    ]  # no temporary left


def test_errors_are_one_line(local: LocalPageBlobStore) -> None:
    with pytest.raises(
        StorageError,
        match="container 'nope' does not exist in local storage account 'acct1'",
    ):
        local.get_properties("nope", "d.vhd")
    assert local.get_properties("vhds", "missing.vhd") is None
    local.create_page_blob("vhds", "d.vhd", 4096)
    with pytest.raises(StorageError, match="already exists"):
        local.create_page_blob("vhds", "d.vhd", 4096)
    with pytest.raises(UsageError, match="not a valid blob name"):
        local.create_page_blob("vhds", "../escape.vhd", 4096)
    with pytest.raises(UsageError, match="multiple of 512"):
        local.create_page_blob("vhds", "e.vhd", 1000)
    local.delete_blob("vhds", "d.vhd")
    local.delete_blob("vhds", "d.vhd")  # missing is fine
    assert local.get_properties("vhds", "d.vhd") is None


def test_overwrite_resets_the_blob(local: LocalPageBlobStore) -> None:
    local.create_page_blob("vhds", "d.vhd", 4096, metadata={"a": "1"})
    local.put_pages("vhds", "d.vhd", 0, b"\x01" * 512)
    local.create_page_blob("vhds", "d.vhd", 8192, overwrite=True)
    assert local.get_page_ranges("vhds", "d.vhd") == []
    assert local.get_properties("vhds", "d.vhd").metadata == {}


def test_server_side_copy_between_accounts_keeps_holes(
    local: LocalPageBlobStore, tmp_path: Path
) -> None:
    other = open_store(
        StorageLink(account="acct2", endpoint="local"), tmp_path / "home"
    )
    other.ensure_container("vhds")
    local.create_page_blob(
        "vhds", "d.vhd", 64 * MIB, metadata={"shipyard_upload": "complete"}
    )
    local.put_pages("vhds", "d.vhd", 32 * MIB, os.urandom(MIB))
    local.set_content_md5("vhds", "d.vhd", b"0123456789abcdef")

    state = other.start_copy_from("vhds", "d.vhd", local, "vhds", "d.vhd")
    assert (
        state.status == "success"
        and other.copy_status("vhds", "d.vhd").status == "success"
    )
    props = other.get_properties("vhds", "d.vhd")
    assert props.size_bytes == 64 * MIB and props.content_md5 == b"0123456789abcdef"
    assert props.metadata == {"shipyard_upload": "complete"}
    assert other.get_page_ranges("vhds", "d.vhd") == [(32 * MIB, 33 * MIB)]
    copied = tmp_path / "home" / "storage" / "acct2" / "vhds" / "d.vhd"
    assert copied.stat().st_blocks * 512 < 4 * MIB  # still sparse
    assert other.read_range("vhds", "d.vhd", 32 * MIB, MIB) == local.read_range(
        "vhds", "d.vhd", 32 * MIB, MIB
    )


def test_copy_from_another_kind_of_store_is_refused(local: LocalPageBlobStore) -> None:
    class Foreign:
        kind = "azure"

    with pytest.raises(CopyRefusedError):
        local.start_copy_from("vhds", "d.vhd", Foreign(), "vhds", "d.vhd")  # type: ignore[arg-type]
