"""Verify a page blob by its sparse digest, in time proportional to its data.

:func:`verify_blob` recomputes the blob's digest from Get Page Ranges plus ranged reads
(:func:`shipyard.storage.digest.scan_blob`) and compares it with the source's (a local image, or
the runs an upload just sent) or, with no source, with the digest recorded at upload. Against a
source it names the ranges that differ. :func:`mark_for_repair` clears those ranges, so that a
rerun of the upload, which sends what the blob's page ranges lack, resends exactly them.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from shipyard.errors import StorageError
from shipyard.storage import ranges as rng
from shipyard.storage.digest import (
    ScanProgress,
    SparseScan,
    describe_ranges,
    differing_ranges,
    recorded_digest,
    scan_blob,
    scan_file,
)
from shipyard.storage.store import PageBlobStore
from shipyard.storage.upload_state import is_upload_complete


class VerifyFailed(StorageError):
    """The blob's content is not the source's; ``ranges`` says where (empty when unknown)."""

    def __init__(self, message: str, ranges: list[rng.Range], hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.ranges = ranges


@dataclass(frozen=True)
class VerifyResult:
    uri: str
    ok: bool  # the blob's content is what it should be (size and sparse digest)
    complete: bool  # and it is marked a finished upload (or a finished copy)
    size_ok: bool
    blob_sha256: str  # recomputed from the blob
    expected_sha256: str  # the source's, or the one recorded at upload
    recorded_sha256: str | None  # in the blob's metadata
    source_sha256: str | None  # of --against IMAGE (or the upload's own runs)
    mismatched: list[rng.Range] = field(default_factory=list)
    bytes_read: int = 0
    requests: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        return {
            "uri": self.uri, "ok": self.ok, "complete": self.complete, "size_ok": self.size_ok,
            "blob_sha256": self.blob_sha256, "expected_sha256": self.expected_sha256,
            "recorded_sha256": self.recorded_sha256, "source_sha256": self.source_sha256,
            "mismatched": [list(r) for r in self.mismatched], "bytes_read": self.bytes_read,
            "requests": self.requests, "seconds": self.seconds,
        }

    def problem(self) -> str | None:
        """One line saying what is wrong, or None when the blob is good and finished."""
        if not self.size_ok:
            return f"{self.uri}: the blob's size differs from the image's"
        if not self.ok:
            where = f": {describe_ranges(self.mismatched)} differ" if self.mismatched else ""
            against = "the image" if self.source_sha256 is not None else "the digest recorded at upload"
            return f"{self.uri}: the blob's content does not match {against}{where}"
        if not self.complete:
            return f"{self.uri}: the content matches, but the upload is unfinished (shipyard_upload: in_progress)"
        return None


def verify_blob(
    store: PageBlobStore,
    container: str,
    blob: str,
    *,
    against: str | os.PathLike[str] | SparseScan | None = None,
    parallelism: int = 4,
    progress: ScanProgress | None = None,
) -> VerifyResult:
    """Recompute the blob's sparse digest and compare; see the module docstring.

    ``progress(read, total)`` follows the blob's read-back."""
    began = time.monotonic()
    uri = store.blob_uri(container, blob)
    props = store.get_properties(container, blob)
    if props is None:
        raise StorageError(f"{uri} does not exist")
    recorded = recorded_digest(props)
    source = against if isinstance(against, SparseScan) or against is None else scan_file(
        against, parallelism=parallelism
    )
    if source is None and recorded is None:
        raise StorageError(
            f"{uri} records no sparse digest (shipyard_sparse_sha256): nothing to verify it against",
            hint="pass --against IMAGE, the image it was uploaded from",
        )
    size_ok = source is None or source.size_bytes == props.size_bytes
    scan = scan_blob(store, container, blob, parallelism=parallelism, progress=progress, size_bytes=props.size_bytes)
    expected = source.digest if source is not None else recorded
    assert expected is not None
    ok = size_ok and scan.digest == expected
    mismatched = [] if ok or source is None else differing_ranges(source.runs, scan.runs)
    return VerifyResult(
        uri, ok, is_upload_complete(props), size_ok, scan.digest, expected, recorded,
        None if source is None else source.digest, mismatched, scan.bytes_read, scan.requests,
        round(time.monotonic() - began, 3),
    )


def mark_for_repair(store: PageBlobStore, container: str, blob: str, ranges: list[rng.Range]) -> None:
    """Clear ``ranges`` (page-aligned), so the next upload, which sends what is missing, resends them."""
    for start, end in rng.split_ranges(ranges):
        store.clear_pages(container, blob, start, end - start)
