"""Sparse, resumable, verified page-blob upload of a fixed VHD (or any 512-aligned raw image).

One read pass over the file, in order:

- holes (from ``SEEK_DATA``/``SEEK_HOLE``, or the caller's ``extents``) are never read;
- each data block (≤ 4 MiB, on 4 MiB boundaries) is read once; its canonical runs (non-zero
  512-byte pages, coalesced: :mod:`shipyard.storage.digest`) go to a bounded pool of workers as
  Put Page calls, each with its transactional MD5, computed once, in the worker. That MD5 is the
  only hash on the critical path: the sparse digest is a SHA-256 over the runs' MD5s, so a dense
  image's bytes are hashed once.

The blob's metadata records the source (size, mtime, a fingerprint of its first and last MiB)
and the state, ``shipyard_upload: in_progress`` until the very end, when the sparse digest is
recorded and the state becomes ``complete``. A rerun against an unfinished blob from the same
source asks for the page ranges and sends only what is missing (the runs already there are
hashed from the file, so the digest is the same however the upload was split); a different
source is refused unless ``overwrite``. ``verify`` reads the blob back
(:func:`shipyard.storage.verify.verify_blob`) before it is marked complete; a mismatch clears the
ranges that differ and leaves it unfinished, so a rerun resends exactly them. ``content_md5``
also sets the whole-stream MD5 as the blob's Content-MD5, computed alongside in a thread and
cached per source (:mod:`shipyard.storage.content_md5`). The library never prints:
``progress`` receives :class:`~shipyard.storage.pages.UploadProgress` events.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from shipyard.errors import StorageError, UsageError
from shipyard.storage import ranges as rng
from shipyard.storage.content_md5 import BackgroundMd5, Md5Cache
from shipyard.storage.digest import (
    SparseScan,
    describe_ranges,
    digest_metadata,
    recorded_digest,
    sparse_digest,
)
from shipyard.storage.pages import PageSender, ProgressCallback, send_runs
from shipyard.storage.store import BlobProperties, PageBlobStore
from shipyard.storage.upload_state import STATE_COMPLETE, STATE_IN_PROGRESS, STATE_KEY, upload_state
from shipyard.storage.verify import VerifyFailed, VerifyResult, mark_for_repair, verify_blob

log = logging.getLogger(__name__)

_SIZE_KEY = "shipyard_source_size"
_MTIME_KEY = "shipyard_source_mtime_ns"
_FINGERPRINT_KEY = "shipyard_source_fingerprint"
_FINGERPRINT_SPAN = 1024 * 1024
StageProgress = Callable[[str, int, int], None]  # (stage, done bytes, total bytes)
DEFAULT_PARALLELISM = 4  # modest: 8 x CPU (azure-vhd-utils' default) draws 503 ServerBusy


@dataclass(frozen=True)
class SourceIdentity:
    size_bytes: int
    mtime_ns: int
    fingerprint: str  # sha256 of size + first MiB + last MiB, 32 hex digits

    def metadata(self) -> dict[str, str]:
        return {
            _SIZE_KEY: str(self.size_bytes),
            _MTIME_KEY: str(self.mtime_ns),
            _FINGERPRINT_KEY: self.fingerprint,
        }

    def differences(self, metadata: dict[str, str]) -> list[str]:
        """What differs from the identity recorded in blob ``metadata`` (empty when the same)."""
        recorded = {k.lower(): v for k, v in metadata.items()}
        names = {
            _SIZE_KEY: "size",
            _MTIME_KEY: "modification time",
            _FINGERPRINT_KEY: "content",
        }
        return [names[k] for k, v in self.metadata().items() if recorded.get(k) != v]


def source_identity(
    path: str | os.PathLike[str], fd: int | None = None
) -> SourceIdentity:
    own = fd is None
    fd = os.open(path, os.O_RDONLY) if fd is None else fd
    try:
        st = os.fstat(fd)
        digest = hashlib.sha256(str(st.st_size).encode())
        digest.update(os.pread(fd, _FINGERPRINT_SPAN, 0))
        digest.update(
            os.pread(fd, _FINGERPRINT_SPAN, max(0, st.st_size - _FINGERPRINT_SPAN))
        )
        return SourceIdentity(st.st_size, st.st_mtime_ns, digest.hexdigest()[:32])
    finally:
        if own:
            os.close(fd)


@dataclass(frozen=True)
class UploadResult:
    uri: str
    size: int
    bytes_sent: int
    bytes_skipped: int
    content_md5: str | None  # hex MD5 of the whole image, set as Content-MD5 (only when asked)
    sparse_sha256: str  # the sparse digest, recorded in the blob's metadata
    seconds: float
    resumed: bool
    ranges_sent: int = 0
    verified: VerifyResult | None = None
    md5_cached: bool = False  # the Content-MD5 came from the cache, not a computation

    def to_json(self) -> dict[str, object]:
        """The keys of ``image upload --raw``."""
        return {
            "uri": self.uri, "size": self.size, "bytes_sent": self.bytes_sent,
            "bytes_skipped": self.bytes_skipped, "content_md5": self.content_md5,
            "sparse_sha256": self.sparse_sha256, "seconds": self.seconds, "resumed": self.resumed,
            "verify": None if self.verified is None else {
                "ok": self.verified.ok, "bytes_read": self.verified.bytes_read,
                "seconds": self.verified.seconds,
            },
        }


def upload_page_blob(
    path: str | os.PathLike[str],
    store: PageBlobStore,
    container: str,
    blob: str,
    *,
    parallelism: int = DEFAULT_PARALLELISM,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    extents: Sequence[tuple[int, int]] | None = None,
    create_container: bool = True,
    verify: bool = False,
    content_md5: bool = False,
    md5_cache: str | os.PathLike[str] | None = None,
    stage_progress: StageProgress | None = None,
) -> UploadResult:
    """Upload ``path`` as page blob ``container/blob``; see the module docstring.

    ``extents``: the file's data regions when the caller knows better than the filesystem (a
    dynamic VHD's BAT); everything outside them is taken as zeros and never read.
    ``md5_cache``: the directory of :class:`~shipyard.storage.content_md5.Md5Cache` (none: no cache).
    ``stage_progress(stage, done, total)`` follows what comes after the pages are sent:
    ``"verifying"`` (bytes read back) and ``"content md5"`` (bytes hashed), when they take time.
    A Content-MD5 is set only on a blob verified to hold the image (``content_md5`` verifies).
    """
    if parallelism < 1:
        raise UsageError("parallelism must be at least 1")
    began = time.monotonic()
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise UsageError(f"cannot open {path}: {exc.strerror}") from None
    md5_job: BackgroundMd5 | None = None
    try:
        identity = source_identity(path, fd)
        size = identity.size_bytes
        if size == 0 or size % rng.PAGE_BYTES:
            raise UsageError(
                f"{Path(path).name} is {size} bytes, not a whole number of 512-byte pages"
            )
        if content_md5:
            cache = Md5Cache(md5_cache) if md5_cache is not None else None
            md5_job = BackgroundMd5(path, identity.fingerprint, cache, extents, fd=fd)
        uri = store.blob_uri(container, blob)
        if create_container:
            store.ensure_container(container)
        props = store.get_properties(container, blob)
        resumed = unverified = False
        present: list[tuple[int, int]] = []
        metadata = {**identity.metadata(), STATE_KEY: STATE_IN_PROGRESS}
        if props is None or overwrite:
            store.create_page_blob(
                container, blob, size, overwrite=overwrite, metadata=metadata
            )
        else:
            _check_resumable(uri, props, identity)
            present = store.get_page_ranges(container, blob)
            resumed = True
            # a digest recorded on an unfinished blob: a run that asked for a read-back stopped
            # before it was done (or before it could mark what failed), so this one reads back too
            unverified = upload_state(props) == STATE_IN_PROGRESS and recorded_digest(props) is not None
            log.info(
                "resuming the upload to %s: the blob holds %d ranges (%s bytes) already",
                uri, len(present), f"{rng.total_bytes(present):,}",
            )
        found = rng.find_data_extents(fd, size) if extents is None else list(extents)
        log.info(
            "uploading %s to %s: %d data extents (%s of %s bytes), %d at a time; holes are never read",
            Path(path).name, uri, len(found), f"{rng.total_bytes(found):,}", f"{size:,}", parallelism,
        )
        sender = send_runs(
            lambda offset, length: os.pread(fd, length, offset), found, size, present,
            PageSender(store, container, blob, size, parallelism, progress),
            f"{Path(path).name} changed during the upload (it got shorter)",
        )
        changed = source_identity(path, fd)
        if (changed.size_bytes, changed.mtime_ns) != (
            identity.size_bytes,
            identity.mtime_ns,
        ):
            raise StorageError(
                f"{Path(path).name} changed during the upload; the blob stays marked unfinished",
                hint="rerun with overwrite once the image is final",
            )
        runs = sorted(sender.runs)
        digest = sparse_digest(size, runs)
        log.info(
            "sent %d ranges (%s bytes) to %s; %s bytes skipped (zeros, or already there); sparse digest %s",
            sender.ranges_sent, f"{sender.bytes_sent:,}", uri, f"{sender.bytes_skipped:,}", digest,
        )
        recorded = {**identity.metadata(), **digest_metadata(digest)}
        verified = None
        if unverified and not (verify or content_md5):
            log.info("%s: the last upload stopped before its read-back was done: reading it back now", uri)
        if verify or content_md5 or unverified:
            store.set_metadata(container, blob, {**recorded, STATE_KEY: STATE_IN_PROGRESS})
            own = SparseScan(size, runs, digest, 0, 0)
            verified = verify_blob(
                store, container, blob, against=own, parallelism=parallelism,
                progress=None if stage_progress is None else lambda done, total: stage_progress(
                    "verifying", done, total),
            )
            if not verified.ok:
                mark_for_repair(store, container, blob, verified.mismatched)
                raise VerifyFailed(
                    f"verify failed for {uri}: {describe_ranges(verified.mismatched)} differ from "
                    f"{Path(path).name}; the blob stays marked unfinished",
                    verified.mismatched,
                    hint="rerun the upload: it resends only those ranges",
                )
        md5 = None
        if md5_job is not None:
            while not md5_job.wait(0.25):
                if stage_progress is not None:
                    stage_progress("content md5", md5_job.done_bytes, md5_job.size_bytes)
            md5 = md5_job.result()
            if stage_progress is not None:
                stage_progress("content md5", md5_job.size_bytes, md5_job.size_bytes)
            store.set_content_md5(container, blob, md5)
        store.set_metadata(container, blob, {**recorded, STATE_KEY: STATE_COMPLETE})
    except BaseException:
        if md5_job is not None:
            md5_job.cancel()
        raise
    finally:
        os.close(fd)
    return UploadResult(
        uri=uri,
        size=size,
        bytes_sent=sender.bytes_sent,
        bytes_skipped=sender.bytes_skipped,
        content_md5=None if md5 is None else md5.hex(),
        sparse_sha256=digest,
        seconds=round(time.monotonic() - began, 3),
        resumed=resumed,
        ranges_sent=sender.ranges_sent,
        verified=verified,
        md5_cached=md5_job is not None and md5_job.cached,
    )


def _check_resumable(uri: str, props: BlobProperties, identity: SourceIdentity) -> None:
    state = upload_state(props)
    if state not in (STATE_IN_PROGRESS, STATE_COMPLETE):
        raise StorageError(
            f"{uri} already exists and was not uploaded by shipyard",
            hint="pass overwrite (--overwrite) to replace it, or choose another blob name",
        )
    changes = identity.differences(props.metadata)
    if props.size_bytes != identity.size_bytes and "size" not in changes:
        changes.insert(0, "size")
    if changes:
        raise StorageError(
            f"{uri} was uploaded from a different source ({', '.join(changes)} changed); not resuming",
            hint="pass overwrite (--overwrite) to upload it again from scratch",
        )
