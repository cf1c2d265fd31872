"""The sparse digest: an image's content identity, computed in time proportional to its data.

A whole-stream MD5 of a 30 GiB image that is 99% holes hashes 30 GiB of zeros (about 40 s);
Azure never checks it. The sparse digest hashes only what is there:

- the **canonical runs** of an image are its non-zero 512-byte pages, coalesced, and cut at every
  multiple of 4 MiB (Azure's Put Page limit), so each run is exactly one Put Page of a fresh
  upload;
- the digest (version 1) is the SHA-256 of ``b"shipyard-sparse-v1\\0"``, the virtual size
  (8 bytes, big-endian), then for each run in offset order its offset and length (8 bytes each,
  big-endian) and the MD5 of its bytes (16 bytes): the MD5 the upload sends with that Put Page.

It depends on the content alone: not on how an upload was split, resumed or parallelised, nor on
which extents the filesystem reports (a hole and a run of zero pages read the same). Upload
records it in the blob's metadata (:data:`DIGEST_KEY`, :data:`DIGEST_VERSION_KEY`);
:func:`scan_blob` recomputes it from Get Page Ranges plus ranged reads, :func:`scan_file` from a
local image (its data extents only), and :func:`differing_ranges` names where two scans differ.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from shipyard.errors import StorageError, UsageError
from shipyard.storage import ranges as rng
from shipyard.storage.store import BlobProperties, PageBlobStore

DIGEST_KEY = "shipyard_sparse_sha256"
DIGEST_VERSION_KEY = "shipyard_sparse_version"
DIGEST_VERSION = "1"
_PREFIX = b"shipyard-sparse-v1\0"

Run = tuple[int, int, bytes]  # (start, end, MD5 of the bytes in [start, end))


def sparse_digest(size_bytes: int, runs: Iterable[Run]) -> str:
    """The version-1 digest (hex) of an image of ``size_bytes`` whose canonical runs are ``runs``."""
    digest = hashlib.sha256(_PREFIX)
    digest.update(size_bytes.to_bytes(8, "big"))
    for start, end, md5 in sorted(runs):
        digest.update(start.to_bytes(8, "big"))
        digest.update((end - start).to_bytes(8, "big"))
        digest.update(md5)
    return digest.hexdigest()


def digest_metadata(digest: str) -> dict[str, str]:
    """The blob metadata that records ``digest``."""
    return {DIGEST_KEY: digest, DIGEST_VERSION_KEY: DIGEST_VERSION}


def recorded_digest(props: BlobProperties | None) -> str | None:
    """The digest recorded in a blob's metadata, if it is one this version computes."""
    if props is None:
        return None
    meta = {k.lower(): v for k, v in props.metadata.items()}
    if meta.get(DIGEST_VERSION_KEY) != DIGEST_VERSION:
        return None
    return meta.get(DIGEST_KEY) or None


def block_runs(block: bytes, base: int) -> list[rng.Range]:
    """The canonical runs of one block read at ``base`` (a block never spans a 4 MiB boundary)."""
    return rng.find_nonzero_pages(block, base)


def hash_runs(block: bytes, base: int) -> list[Run]:
    """The canonical runs of one block with the MD5 of each."""
    out: list[Run] = []
    for start, end in block_runs(block, base):
        piece = block if (start, end) == (base, base + len(block)) else block[start - base : end - base]
        out.append((start, end, hashlib.md5(piece).digest()))
    return out


@dataclass(frozen=True)
class SparseScan:
    """One image's canonical runs and digest, and what it cost to read them."""

    size_bytes: int
    runs: list[Run]
    digest: str
    bytes_read: int
    requests: int  # ranged reads (a blob) or preads (a file)

    @property
    def data_bytes(self) -> int:
        return sum(end - start for start, end, _ in self.runs)


ScanProgress = Callable[[int, int], None]  # (bytes read so far, bytes to read)


def _scan(
    size_bytes: int, regions: Sequence[rng.Range], read: Callable[[int, int], bytes], parallelism: int,
    progress: ScanProgress | None = None,
) -> SparseScan:
    blocks = [(s, e) for s, e, is_data in rng.iter_segments(regions, size_bytes) if is_data]
    total, done = rng.total_bytes(blocks), 0

    def one(block: rng.Range) -> list[Run]:
        start, end = block
        data = read(start, end - start)
        if len(data) != end - start:
            raise StorageError(f"short read at byte {start}: {len(data)} of {end - start} bytes")
        return hash_runs(data, start)

    runs: list[Run] = []
    with ThreadPoolExecutor(max_workers=max(1, parallelism), thread_name_prefix="shipyard-scan") as pool:
        for (start, end), found in zip(blocks, pool.map(one, blocks), strict=True):
            runs.extend(found)
            done += end - start
            if progress is not None:
                progress(done, total)
    return SparseScan(size_bytes, runs, sparse_digest(size_bytes, runs), total, len(blocks))


def scan_file(
    path: str | os.PathLike[str],
    *,
    extents: Sequence[rng.Range] | None = None,
    parallelism: int = 4,
    progress: ScanProgress | None = None,
) -> SparseScan:
    """The digest of a local image, reading only its data extents (``extents``: the caller's)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise UsageError(f"cannot open {path}: {exc.strerror}") from None
    try:
        size = os.fstat(fd).st_size
        regions = rng.find_data_extents(fd, size) if extents is None else list(extents)
        return _scan(size, regions, lambda offset, length: os.pread(fd, length, offset), parallelism, progress)
    except OSError as exc:
        raise StorageError(f"reading {Path(path).name}: {exc.strerror}") from None
    finally:
        os.close(fd)


def scan_blob(
    store: PageBlobStore, container: str, blob: str, *, parallelism: int = 4, progress: ScanProgress | None = None,
    size_bytes: int | None = None,
) -> SparseScan:
    """The digest of a page blob from its written ranges, read back in 4 MiB-aligned pieces.

    ``size_bytes``: the blob's size when the caller has just read its properties (else read here)."""
    if size_bytes is None:
        props = store.get_properties(container, blob)
        if props is None:
            raise StorageError(f"{store.blob_uri(container, blob)} does not exist")
        size_bytes = props.size_bytes
    written = store.get_page_ranges(container, blob)
    return _scan(
        size_bytes, written,
        lambda offset, length: store.read_range(container, blob, offset, length), parallelism, progress,
    )


def differing_ranges(expected: Sequence[Run], actual: Sequence[Run]) -> list[rng.Range]:
    """Where two scans differ: the runs of either that the other lacks, coalesced."""
    mine, theirs = set(expected), set(actual)
    return rng.coalesce_ranges(
        [(s, e) for s, e, _ in mine - theirs] + [(s, e) for s, e, _ in theirs - mine]
    )


def describe_ranges(ranges: Sequence[rng.Range], limit: int = 3) -> str:
    """``bytes 4194304-4198400 (4,096 bytes)``: byte ranges as messages name them (half-open)."""
    shown = [f"{s}-{e} ({e - s:,} bytes)" for s, e in ranges[:limit]]
    more = f" and {len(ranges) - limit} more" if len(ranges) > limit else ""
    return ("bytes " if len(ranges) == 1 else "byte ranges ") + ", ".join(shown) + more
