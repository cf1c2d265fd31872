"""Block blobs (``put_blob``, ``list_blobs``) on both stores: files that are not VHDs, any size."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from fixtures.azurite import MIB
from shipyard.errors import StorageError
from shipyard.storage.open import open_store
from shipyard.storage.store import BlobItem, PageBlobStore

WRONG_KEY = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktISE="


def read_all(store: PageBlobStore, container: str, blob: str) -> bytes:
    props = store.get_properties(container, blob)
    assert props is not None, f"{blob} does not exist"
    return store.read_range(container, blob, 0, props.size_bytes)


def test_bytes_and_files_of_any_size_round_trip(store: PageBlobStore, container: str, tmp_path: Path) -> None:
    store.ensure_container(container)
    big = tmp_path / "big.bin"
    payload = os.urandom(5 * MIB + 3)  # more than one chunk, not 512-aligned
    big.write_bytes(payload)
    store.put_blob(container, "out/small.txt", b"hello\n", metadata={"k": "v"})
    store.put_blob(container, "out/deep/big.bin", big)
    store.put_blob(container, "empty", b"")
    assert read_all(store, container, "out/small.txt") == b"hello\n"
    assert read_all(store, container, "out/deep/big.bin") == payload
    props = store.get_properties(container, "out/small.txt")
    assert props is not None and (props.size_bytes, props.blob_type, props.metadata) == (6, "BlockBlob", {"k": "v"})
    empty = store.get_properties(container, "empty")
    assert empty is not None and (empty.size_bytes, empty.blob_type) == (0, "BlockBlob")
    if store.kind == "local":  # the local store keeps every block blob's MD5 (Azure: only a single Put Blob's)
        assert props.content_md5 == hashlib.md5(b"hello\n").digest()


def test_overwrite_replaces_and_overwrite_false_refuses(store: PageBlobStore, container: str) -> None:
    store.ensure_container(container)
    store.put_blob(container, "a.txt", b"one")
    store.put_blob(container, "a.txt", b"two, longer")
    assert read_all(store, container, "a.txt") == b"two, longer"
    with pytest.raises(StorageError, match=r"a\.txt already exists"):
        store.put_blob(container, "a.txt", b"three", overwrite=False)
    assert read_all(store, container, "a.txt") == b"two, longer"
    store.put_blob(container, "new.txt", b"fresh", overwrite=False)
    assert read_all(store, container, "new.txt") == b"fresh"
    # a page blob of the same name is a blob of that name: refused, or replaced
    store.create_page_blob(container, "disk.vhd", MIB)
    with pytest.raises(StorageError, match="already exists"):
        store.put_blob(container, "disk.vhd", b"x", overwrite=False)
    store.put_blob(container, "disk.vhd", b"not a disk")
    props = store.get_properties(container, "disk.vhd")
    assert props is not None and (props.blob_type, props.size_bytes) == ("BlockBlob", 10)


def test_list_blobs_lists_both_types_by_prefix(store: PageBlobStore, container: str) -> None:
    store.ensure_container(container)
    store.create_page_blob(container, "vhds/disk.vhd", MIB)
    for name in ("out/b.txt", "out/a.txt", "out/sub/c.txt", "outer.txt", "other/x"):
        store.put_blob(container, name, name.encode())
    assert store.list_blobs(container) == [
        BlobItem("other/x", 7), BlobItem("out/a.txt", 9), BlobItem("out/b.txt", 9), BlobItem("out/sub/c.txt", 13),
        BlobItem("outer.txt", 9), BlobItem("vhds/disk.vhd", MIB)]
    assert [b.name for b in store.list_blobs(container, "out/")] == ["out/a.txt", "out/b.txt", "out/sub/c.txt"]
    assert [b.name for b in store.list_blobs(container, "out")] == [
        "out/a.txt", "out/b.txt", "out/sub/c.txt", "outer.txt"]
    assert [b.name for b in store.list_blobs(container, "out/s")] == ["out/sub/c.txt"]
    assert store.list_blobs(container, "nothing/") == []
    store.delete_blob(container, "out/a.txt")
    assert [b.name for b in store.list_blobs(container, "out/")] == ["out/b.txt", "out/sub/c.txt"]


def test_a_missing_container_or_source_is_one_line(store: PageBlobStore, container: str, tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=f"container '{container}' does not exist") as caught:
        store.put_blob(container, "a.txt", b"x")
    assert "\n" not in str(caught.value)
    with pytest.raises(StorageError, match=f"container '{container}' does not exist"):
        store.list_blobs(container)
    store.ensure_container(container)
    with pytest.raises(StorageError, match=r"cannot read .*nope\.bin for .*a\.txt: No such file or directory$"):
        store.put_blob(container, "a.txt", tmp_path / "nope.bin")
    assert store.get_properties(container, "a.txt") is None and store.list_blobs(container) == []


def test_local_block_blobs_sit_beside_page_blobs_and_never_collide(tmp_path: Path) -> None:
    from shipyard.config.credentials import StorageLink

    store = open_store(StorageLink(account="acct1", endpoint="local"), tmp_path / "home")
    account = tmp_path / "home" / "storage" / "acct1"
    store.ensure_container("out")
    store.put_blob("out", "r/a.txt", b"A")
    assert (account / "out" / "r" / "a.txt").read_bytes() == b"A"
    assert (account / ".shipyard-meta" / "out" / "r" / "a.txt.json").is_file()
    assert os.listdir(account / ".shipyard-tmp") == []  # nothing is left of the write
    assert (account / "out" / "r" / "a.txt").stat().st_mode & 0o777 == 0o644
    # a blob's name cannot be a folder of another's, nor the other way round: one line, nothing written
    with pytest.raises(StorageError, match=r"cannot hold blob local://acct1/out/r/a\.txt/b: a blob has the name") as c1:
        store.put_blob("out", "r/a.txt/b", b"B")
    with pytest.raises(StorageError, match=r"cannot hold blob local://acct1/out/r: other blobs' names go on") as c2:
        store.put_blob("out", "r", b"R")
    assert "\n" not in str(c1.value) + str(c2.value)
    assert [b.name for b in store.list_blobs("out")] == ["r/a.txt"]
    # what is not a blob (a copy's temporary file, a stray file) is not listed
    (account / "out" / "r" / ".a.txt.123.copy").write_bytes(b"partial")
    assert [b.name for b in store.list_blobs("out")] == ["r/a.txt"]
    # a write that fails leaves the old blob whole
    (account / ".shipyard-tmp").rmdir()
    (account / ".shipyard-tmp").write_bytes(b"in the way")
    with pytest.raises(StorageError, match=r"writing local://acct1/out/r/a\.txt failed: File exists"):
        store.put_blob("out", "r/a.txt", b"new")
    assert read_all(store, "out", "r/a.txt") == b"A"


def test_azure_put_blob_with_a_wrong_key_is_one_line_without_the_key(azurite, container) -> None:
    good = open_store(azurite.link("acct1"))
    good.ensure_container(container)
    store = open_store(azurite.link("acct1", key=WRONG_KEY), initial_backoff_s=0)
    for call in (lambda: store.put_blob(container, "a.txt", b"x"), lambda: store.list_blobs(container)):
        with pytest.raises(StorageError) as caught:
            call()
        message = str(caught.value)
        assert "wrong account key?" in message and "acct1" in message
        assert "\n" not in message and WRONG_KEY not in message and WRONG_KEY not in (caught.value.hint or "")
    assert good.list_blobs(container) == []
