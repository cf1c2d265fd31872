"""``BlobDevice``: a page blob read in place, in aligned chunks through an LRU cache, on both stores.

``store`` is parametrized (the local store and Azurite). Chunks here are 4 KiB so that a small
blob has many; the default (256 KiB) is measured in benchmarks/BLOB_READS.md.
"""

from __future__ import annotations

import random

import pytest

from fixtures.images import pseudo_random_bytes
from shipyard.errors import StorageError
from shipyard.storage.blob_device import CHUNK_BYTES, BlobDevice
from shipyard.storage.open import open_store
from shipyard.storage.store import PageBlobStore

CHUNK = 4096
SIZE = 5 * CHUNK + 1024  # five whole chunks, then a short last one
DATA = pseudo_random_bytes(SIZE, seed=9)
WRONG_KEY = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktISE="


@pytest.fixture
def blob(store: PageBlobStore, container: str) -> str:
    store.ensure_container(container)
    store.create_page_blob(container, "data.bin", SIZE, overwrite=True)
    store.put_pages(container, "data.bin", 0, DATA)
    return "data.bin"


def device(store: PageBlobStore, container: str, blob: str, **options: int) -> BlobDevice:
    return BlobDevice(store, container, blob, chunk_bytes=options.pop("chunk_bytes", CHUNK), **options)


def test_reads_are_the_blobs_bytes_anywhere(store: PageBlobStore, container: str, blob: str) -> None:
    dev = device(store, container, blob)
    assert dev.size_bytes == SIZE and dev.name == store.blob_uri(container, blob)
    cases = [
        (0, 10), (CHUNK - 3, 6),  # across the first boundary
        (CHUNK - 1, 2 * CHUNK + 2),  # three chunks and a bit
        (0, SIZE), (SIZE - 10, 10), (SIZE - 10, 100),  # the end, and past it: short
        (5 * CHUNK, 1024), (5 * CHUNK + 1000, 5000),  # in the short last chunk
    ]
    for offset, length in cases:
        assert dev.read(offset, length) == DATA[offset : offset + length], (offset, length)
    assert dev.read(SIZE, 10) == b"" and dev.read(SIZE + 5000, 10) == b"" and dev.read(100, 0) == b""
    rng = random.Random(3)
    for _ in range(200):
        offset, length = rng.randrange(SIZE + 100), rng.randrange(3 * CHUNK)
        assert dev.read(offset, length) == DATA[offset : offset + length], (offset, length)
    with pytest.raises(ValueError, match="negative"):
        dev.read(-1, 10)
    with pytest.raises(ValueError, match="negative"):
        dev.read(0, -1)


def test_only_touched_chunks_are_downloaded_and_a_reread_costs_no_request(
    store: PageBlobStore, container: str, blob: str
) -> None:
    dev = device(store, container, blob)
    assert (dev.requests, dev.bytes_read) == (1, 0)  # the properties request
    dev.read(100, 16)  # a superblock-sized read
    assert (dev.requests, dev.bytes_read) == (2, CHUNK)
    dev.read(0, 512)
    dev.read(CHUNK - 16, 16)  # the same chunk again, twice
    assert (dev.requests, dev.bytes_read) == (2, CHUNK)
    dev.read(CHUNK - 16, 32)  # one more chunk: the cached one is not fetched again
    assert (dev.requests, dev.bytes_read) == (3, 2 * CHUNK)
    dev.read(SIZE - 1, 1)  # the last chunk is short: only its bytes are downloaded
    assert (dev.requests, dev.bytes_read) == (4, 2 * CHUNK + 1024)


def test_a_run_of_missing_chunks_is_one_request(store: PageBlobStore, container: str, blob: str) -> None:
    dev = device(store, container, blob)
    dev.read(2 * CHUNK, 1)  # chunk 2 cached
    before = dev.requests
    assert dev.read(0, 5 * CHUNK) == DATA[: 5 * CHUNK]  # chunks 0-1 and 3-4: two runs, two requests
    assert dev.requests == before + 2 and dev.bytes_read == 5 * CHUNK
    assert dev.read(0, SIZE) == DATA and dev.requests == before + 3  # only the short last chunk was missing


def test_the_cache_keeps_the_chunks_used_last(store: PageBlobStore, container: str, blob: str) -> None:
    dev = device(store, container, blob, cache_bytes=2 * CHUNK)  # room for two chunks
    for index in (0, 1, 0, 2):  # 0 used again after 1: 1 is the one evicted by 2
        dev.read(index * CHUNK, 8)
    assert dev.requests == 4
    dev.read(0, 8)
    dev.read(2 * CHUNK, 8)
    assert dev.requests == 4  # 0 and 2 are cached
    dev.read(CHUNK, 8)
    assert dev.requests == 5  # 1 was evicted
    dev.close()  # drops the cache; the counts stay
    assert dev.read(CHUNK, 8) == DATA[CHUNK : CHUNK + 8] and dev.requests == 6


def test_the_default_chunk_is_aligned_and_bad_chunks_are_refused(
    store: PageBlobStore, container: str, blob: str
) -> None:
    assert CHUNK_BYTES % 4096 == 0
    dev = BlobDevice(store, container, blob)
    assert dev.read(10, 20) == DATA[10:30] and dev.bytes_read == SIZE  # the whole blob is in one chunk
    for bad in (0, 1000, -512):
        with pytest.raises(ValueError, match="multiple of 512"):
            BlobDevice(store, container, blob, chunk_bytes=bad)


def test_a_missing_blob_or_container_is_one_storage_error(store: PageBlobStore, container: str, blob: str) -> None:
    with pytest.raises(StorageError) as missing:
        BlobDevice(store, container, "nope.vhd")
    assert str(missing.value) == f"blob {store.blob_uri(container, 'nope.vhd')} does not exist"
    with pytest.raises(StorageError) as no_container:
        BlobDevice(store, "no-such-container", "x.vhd")
    assert "container 'no-such-container' does not exist" in str(no_container.value)
    assert "\n" not in str(no_container.value)


# What each store says when a chunk's blob is gone: the local store cannot open its data file;
# Azure answers the ranged read 404 BlobNotFound (the request named by its range).
DELETED = {
    "local": "blob {uri} does not exist",
    "azurite": "reading 4,096 bytes at 12288 of {uri}: blob not found in storage account 'acct1'",
}


def test_a_blob_deleted_while_it_is_read_is_a_storage_error(
    store: PageBlobStore, store_kind: str, container: str, blob: str
) -> None:
    dev = device(store, container, blob)
    dev.read(0, 8)
    store.delete_blob(container, blob)
    with pytest.raises(StorageError) as caught:
        dev.read(3 * CHUNK, 8)  # chunk 3: 4,096 bytes at 12288
    assert str(caught.value) == DELETED[store_kind].format(uri=store.blob_uri(container, blob))


def test_a_wrong_key_is_one_line_without_the_key(azurite, container: str) -> None:
    store = open_store(azurite.link("acct1", key=WRONG_KEY), initial_backoff_s=0)
    with pytest.raises(StorageError) as caught:
        BlobDevice(store, container, "disk.vhd")
    message = str(caught.value) + (caught.value.hint or "")
    assert "wrong account key?" in message and "\n" not in message
    assert WRONG_KEY not in message and azurite.keys["acct1"] not in message
