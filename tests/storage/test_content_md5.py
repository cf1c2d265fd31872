"""``content_md5``: the whole-stream MD5 alongside the upload, cached per source, headers kept."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from fixtures.azurite import MIB
from fixtures.wire import WireStore
from shipyard.errors import StorageError
from shipyard.storage import content_md5 as cm
from shipyard.storage import ranges as rng
from shipyard.storage.upload import upload_page_blob


def _md5(path: Path) -> bytes:
    return hashlib.md5(path.read_bytes()).digest()


@pytest.mark.parametrize("count", [0, 512, rng.BLOCK_BYTES, 3 * rng.BLOCK_BYTES + 1536])
def test_hash_zeros_is_the_digest_of_that_many_zeros(count: int) -> None:
    digest = hashlib.md5(b"head")
    cm.hash_zeros(digest, count)
    assert digest.digest() == hashlib.md5(b"head" + bytes(count)).digest()


def test_whole_stream_md5_reads_data_and_hashes_holes(sparse_image: Path) -> None:
    with open(sparse_image, "rb") as handle:
        assert cm.whole_stream_md5(handle.fileno(), sparse_image.stat().st_size) == _md5(sparse_image)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times the whole-stream MD5 was computed (it still is, for real)."""
    calls: list[int] = []
    real = cm.whole_stream_md5

    def counting(fd: int, size: int, *args, **kwargs) -> bytes:
        calls.append(size)
        return real(fd, size, *args, **kwargs)

    monkeypatch.setattr(cm, "whole_stream_md5", counting)
    return calls


def test_content_md5_is_set_and_a_second_upload_takes_it_from_the_cache(
    store, container, sparse_image: Path, tmp_path: Path, counted: list[int]
) -> None:
    cache = tmp_path / "md5-cache"
    first = upload_page_blob(sparse_image, store, container, "a.vhd", content_md5=True, md5_cache=cache)
    assert first.content_md5 == _md5(sparse_image).hex() and not first.md5_cached
    assert store.get_properties(container, "a.vhd").content_md5 == _md5(sparse_image)
    second = upload_page_blob(sparse_image, store, container, "b.vhd", content_md5=True, md5_cache=cache)
    assert second.content_md5 == first.content_md5 and second.md5_cached
    assert store.get_properties(container, "b.vhd").content_md5 == _md5(sparse_image)
    assert counted == [sparse_image.stat().st_size]  # computed once, for the first upload only
    assert first.to_json()["content_md5"] == first.content_md5


def test_a_changed_file_is_hashed_again(
    store, container, sparse_image: Path, tmp_path: Path, counted: list[int]
) -> None:
    cache = tmp_path / "md5-cache"
    upload_page_blob(sparse_image, store, container, "a.vhd", content_md5=True, md5_cache=cache)
    with open(sparse_image, "r+b") as handle:
        os.pwrite(handle.fileno(), b"\x09" * 512, 30 * MIB)
    again = upload_page_blob(sparse_image, store, container, "b.vhd", content_md5=True, md5_cache=cache)
    assert again.content_md5 == _md5(sparse_image).hex() and not again.md5_cached
    assert len(counted) == 2


def test_without_a_cache_it_is_computed_each_time(store, container, sparse_image: Path, counted) -> None:
    for blob in ("a.vhd", "b.vhd"):
        result = upload_page_blob(sparse_image, store, container, blob, content_md5=True)
        assert result.content_md5 == _md5(sparse_image).hex()
    assert len(counted) == 2


def test_a_file_that_changes_while_it_is_hashed_is_refused_and_not_cached(
    sparse_image: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = cm.whole_stream_md5

    def touching(fd: int, size: int, *args, **kwargs) -> bytes:
        digest = real(fd, size, *args, **kwargs)
        os.utime(sparse_image, ns=(1, 1))
        return digest

    monkeypatch.setattr(cm, "whole_stream_md5", touching)
    cache = cm.Md5Cache(tmp_path / "cache")
    with open(sparse_image, "rb") as handle:
        fingerprint = "f" * 32
        job = cm.BackgroundMd5(sparse_image, fingerprint, cache)
        with pytest.raises(StorageError, match="changed while its MD5 was computed"):
            job.result()
        assert cache.get(cm.identity_key(handle.fileno(), fingerprint)) is None
    assert not list((tmp_path / "cache").glob("*.json"))


def test_a_failed_upload_stops_the_md5_thread(store, container, sparse_image: Path, tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="injected failure"):
        upload_page_blob(sparse_image, WireStore(store, fail_after=0), container, "a.vhd", content_md5=True,
                         md5_cache=tmp_path / "c")
    assert not [t for t in threading.enumerate() if t.name == "shipyard-content-md5"]


def test_setting_content_md5_keeps_the_other_headers(azurite, container, sparse_image: Path, tmp_path: Path) -> None:
    from azure.storage.blob import BlobServiceClient, ContentSettings

    from shipyard.storage.azure import AzurePageBlobStore

    store = AzurePageBlobStore(azurite.link("acct1"), initial_backoff_s=0.01)
    upload_page_blob(sparse_image, store, container, "disk.vhd")
    client = BlobServiceClient(azurite.endpoint("acct1"), credential={
        "account_name": "acct1", "account_key": azurite.keys["acct1"]}).get_blob_client(container, "disk.vhd")
    client.set_http_headers(ContentSettings(content_type="application/x-vhd", cache_control="no-cache",
                                            content_disposition="attachment", content_language="en"))
    again = upload_page_blob(sparse_image, store, container, "disk.vhd", content_md5=True, md5_cache=tmp_path / "c")
    assert again.resumed and again.bytes_sent == 0
    headers = client.get_blob_properties().content_settings
    assert bytes(headers.content_md5) == _md5(sparse_image)
    assert (headers.content_type, headers.cache_control, headers.content_disposition, headers.content_language) == (
        "application/x-vhd", "no-cache", "attachment", "en")


def test_content_md5_is_only_set_on_a_blob_verified_to_hold_the_image(
    store, container, sparse_image: Path, tmp_path: Path
) -> None:
    from shipyard.storage.verify import VerifyFailed

    wire = WireStore(store, corrupt_at=20 * MIB + 512)
    with pytest.raises(VerifyFailed):  # no verify=True: content_md5 reads the blob back itself
        upload_page_blob(sparse_image, wire, container, "a.vhd", content_md5=True, md5_cache=tmp_path / "c")
    assert wire.flipped == 1
    assert store.get_properties(container, "a.vhd").content_md5 is None  # never the MD5 of another blob
    result = upload_page_blob(sparse_image, store, container, "a.vhd", content_md5=True, md5_cache=tmp_path / "c")
    assert result.verified is not None and result.verified.ok
    assert store.get_properties(container, "a.vhd").content_md5 == _md5(sparse_image)


def test_a_dense_image_is_hashed_once(store, container, tmp_path: Path, image_factory,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    image = image_factory(tmp_path / "dense.vhd", 12, [(0, os.urandom(12 * MIB))])
    hashed: list[int] = []
    real_md5 = hashlib.md5

    class Counting:
        def __init__(self, data: bytes = b"") -> None:
            self.inner = real_md5(data)
            hashed.append(len(data))

        def update(self, data: bytes) -> None:
            hashed.append(len(data))
            self.inner.update(data)

        def digest(self) -> bytes:
            return self.inner.digest()

    monkeypatch.setattr(hashlib, "md5", Counting)
    result = upload_page_blob(image, store, container, "dense.vhd", parallelism=3)
    assert result.bytes_sent == image.stat().st_size
    assert sum(hashed) == result.bytes_sent  # each byte once: the Put Page's MD5, reused by the digest


def test_a_file_edited_with_its_mtime_set_back_is_hashed_again(
    store, container, sparse_image: Path, tmp_path: Path, counted: list[int]
) -> None:
    """Same inode, size, mtime and first and last MiB, but another middle (``touch -d``, ``cp -p``,
    ``rsync --inplace`` after an edit): the cached MD5 is not this file's, so it is not used."""
    cache = tmp_path / "md5-cache"
    first = upload_page_blob(sparse_image, store, container, "a.vhd", content_md5=True, md5_cache=cache)
    before = sparse_image.stat()
    with open(sparse_image, "r+b") as handle:
        os.pwrite(handle.fileno(), b"\x09" * 512, 10 * MIB)  # not in the fingerprinted first or last MiB
    os.utime(sparse_image, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (sparse_image.stat().st_ino, sparse_image.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    again = upload_page_blob(sparse_image, store, container, "b.vhd", content_md5=True, md5_cache=cache)
    assert again.content_md5 == _md5(sparse_image).hex() != first.content_md5
    assert not again.md5_cached and len(counted) == 2
    assert store.get_properties(container, "b.vhd").content_md5 == _md5(sparse_image)
