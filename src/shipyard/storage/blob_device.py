"""A page blob as a read-only ``BlockDevice``: an image in storage checked in place, never downloaded.

Either store works (Azure, an emulator, the local store): the device reads through the store's
``read_range`` in aligned chunks of ``chunk_bytes``, fetching a run of missing chunks in one
request, and keeps the chunks read last in a small LRU cache, so the many small reads a
filesystem reader makes near one another (superblocks, group descriptors, inodes, directory and
extent blocks) cost one request between them. ``bytes_read`` counts the bytes downloaded and
``requests`` the requests made (the properties request included).

The chunk size (``CHUNK_BYTES``) was measured on real images: see ``benchmarks/BLOB_READS.md``.
Failures (a missing blob or container, a refused key, a short read) raise the store's
:class:`~shipyard.errors.StorageError`, one line without a secret; ``name`` is the bare URI.
"""

from __future__ import annotations

from collections import OrderedDict

from shipyard.errors import StorageError
from shipyard.storage.store import BlobProperties, PageBlobStore

KIB = 1024
MIB = 1024 * KIB
CHUNK_BYTES = 256 * KIB  # the measured best: see benchmarks/BLOB_READS.md
CACHE_BYTES = 16 * MIB  # the LRU cache's size (whole chunks)
MAX_REQUEST_BYTES = 4 * MIB  # a run of missing chunks is fetched in requests of at most this


class BlobDevice:
    """The blob ``container/blob`` of ``store``, read on demand. Raises ``StorageError`` if it is missing."""

    def __init__(
        self,
        store: PageBlobStore,
        container: str,
        blob: str,
        *,
        chunk_bytes: int = CHUNK_BYTES,
        cache_bytes: int = CACHE_BYTES,
        properties: BlobProperties | None = None,
    ) -> None:
        if chunk_bytes <= 0 or chunk_bytes % 512:
            raise ValueError(f"chunk_bytes must be a positive multiple of 512, not {chunk_bytes}")
        self.store = store
        self.container = container
        self.blob = blob
        self.name = store.blob_uri(container, blob)  # bare: never a query string
        self.chunk_bytes = chunk_bytes
        self.requests = 0
        self.bytes_read = 0
        if properties is None:
            self.requests += 1
            properties = store.get_properties(container, blob)  # a missing container raises
            if properties is None:
                raise StorageError(f"blob {self.name} does not exist", hint="check the blob name, or upload it first")
        self.properties = properties
        self.size_bytes = properties.size_bytes
        self._capacity = max(1, cache_bytes // chunk_bytes)
        self._cache: OrderedDict[int, bytes] = OrderedDict()

    def read(self, offset: int, length: int) -> bytes:
        """Exactly ``length`` bytes from ``offset``, fewer only at the end of the blob."""
        if offset < 0 or length < 0:
            raise ValueError("negative offset or length")
        end = min(offset + length, self.size_bytes)
        if offset >= end:
            return b""
        first, last = offset // self.chunk_bytes, (end - 1) // self.chunk_bytes
        chunks = self._chunks(first, last)
        data = chunks[first] if first == last else b"".join(chunks[index] for index in range(first, last + 1))
        start = offset - first * self.chunk_bytes
        return data[start : start + end - offset]

    def _chunks(self, first: int, last: int) -> dict[int, bytes]:
        """Chunks ``first..last``: cached ones from the cache, each run of missing ones in few requests."""
        found: dict[int, bytes] = {}
        missing: list[int] = []
        for index in range(first, last + 1):
            cached = self._cache.get(index)
            if cached is None:
                missing.append(index)
            else:
                self._cache.move_to_end(index)
                found[index] = cached
        per_request = max(1, MAX_REQUEST_BYTES // self.chunk_bytes)
        run: list[int] = []
        for index in missing:
            if run and (index != run[-1] + 1 or len(run) == per_request):
                found.update(self._fetch(run[0], run[-1]))
                run = []
            run.append(index)
        if run:
            found.update(self._fetch(run[0], run[-1]))
        return found

    def _fetch(self, first: int, last: int) -> dict[int, bytes]:
        start = first * self.chunk_bytes
        length = min((last + 1) * self.chunk_bytes, self.size_bytes) - start
        self.requests += 1
        data = self.store.read_range(self.container, self.blob, start, length)
        self.bytes_read += len(data)
        if len(data) != length:
            raise StorageError(f"reading {self.name}: got {len(data):,} of {length:,} bytes at offset {start:,}",
                               hint="the blob changed while it was read; rerun")
        chunks = {}
        for index in range(first, last + 1):
            piece = data[(index - first) * self.chunk_bytes : (index - first + 1) * self.chunk_bytes]
            chunks[index] = piece
            self._cache[index] = piece
            self._cache.move_to_end(index)
        while len(self._cache) > self._capacity:
            self._cache.popitem(last=False)
        return chunks

    def close(self) -> None:
        """Drop the cache (the counts stay readable)."""
        self._cache.clear()

    def __enter__(self) -> BlobDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
