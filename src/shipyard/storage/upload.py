"""Sparse, resumable, verified page-blob upload of a fixed VHD (or any 512-aligned raw image).

One read pass over the file, in order:

- holes (from ``SEEK_DATA``/``SEEK_HOLE``, or the caller's ``extents``) are never read; a reused
  zero buffer feeds them to the MD5;
- each data block (≤ 4 MiB) is read once, fed to the MD5, and its non-zero 512-byte pages, less
  what the blob already holds, go to a bounded pool of workers as Put Page calls.

The blob's metadata records the source (size, mtime, a fingerprint of its first and last MiB)
and the state, ``shipyard_upload: in_progress`` until the very end, when Content-MD5 is set and
the state becomes ``complete``. A rerun against an unfinished blob from the same source asks for
the page ranges and sends only what is missing; a different source is refused unless
``overwrite``. The library never prints: ``progress`` receives
:class:`~shipyard.storage.pages.UploadProgress` events.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from shipyard.errors import StorageError, UsageError
from shipyard.storage import ranges as rng
from shipyard.storage.pages import PageSender, ProgressCallback, hash_zeros
from shipyard.storage.store import BlobProperties, PageBlobStore

log = logging.getLogger(__name__)

STATE_KEY = "shipyard_upload"
STATE_IN_PROGRESS = "in_progress"
STATE_COMPLETE = "complete"
_SIZE_KEY = "shipyard_source_size"
_MTIME_KEY = "shipyard_source_mtime_ns"
_FINGERPRINT_KEY = "shipyard_source_fingerprint"
_FINGERPRINT_SPAN = 1024 * 1024
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


def upload_state(props: BlobProperties | None) -> str | None:
    """``in_progress``, ``complete``, or None for a blob shipyard did not upload (or no blob)."""
    if props is None:
        return None
    return {k.lower(): v for k, v in props.metadata.items()}.get(STATE_KEY)


def is_upload_complete(props: BlobProperties | None) -> bool:
    """True only for a finished upload: state complete, Content-MD5 set, no copy unfinished."""
    return (
        upload_state(props) == STATE_COMPLETE
        and props is not None
        and props.content_md5 is not None
        and props.copy_status in (None, "success")
    )


@dataclass(frozen=True)
class UploadResult:
    uri: str
    size: int
    bytes_sent: int
    bytes_skipped: int
    md5: str  # hex digest of the whole stream, the blob's Content-MD5
    seconds: float
    resumed: bool
    ranges_sent: int = 0

    def to_json(self) -> dict[str, object]:
        """The keys of ``image upload --raw``."""
        data = asdict(self)
        data.pop("ranges_sent")
        return data


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
) -> UploadResult:
    """Upload ``path`` as page blob ``container/blob``; see the module docstring.

    ``extents``: the file's data regions when the caller knows better than the filesystem (a
    dynamic VHD's BAT); everything outside them is taken as zeros and never read.
    """
    if parallelism < 1:
        raise UsageError("parallelism must be at least 1")
    began = time.monotonic()
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise UsageError(f"cannot open {path}: {exc.strerror}") from None
    try:
        identity = source_identity(path, fd)
        size = identity.size_bytes
        if size == 0 or size % rng.PAGE_BYTES:
            raise UsageError(
                f"{Path(path).name} is {size} bytes, not a whole number of 512-byte pages"
            )
        uri = store.blob_uri(container, blob)
        if create_container:
            store.ensure_container(container)
        props = store.get_properties(container, blob)
        resumed = False
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
            log.info(
                "resuming the upload to %s: the blob holds %d ranges (%s bytes) already",
                uri, len(present), f"{rng.total_bytes(present):,}",
            )

        digest, sender = (
            hashlib.md5(),
            PageSender(store, container, blob, size, parallelism, progress),
        )
        found = rng.find_data_extents(fd, size) if extents is None else list(extents)
        log.info(
            "uploading %s to %s: %d data extents (%s of %s bytes), %d at a time; holes are never read",
            Path(path).name, uri, len(found), f"{rng.total_bytes(found):,}", f"{size:,}", parallelism,
        )
        try:
            for start, end, is_data in rng.iter_segments(found, size):
                if not is_data:
                    hash_zeros(digest, end - start)
                    sender.skip(end - start)
                    continue
                block = os.pread(fd, end - start, start)
                if len(block) != end - start:
                    raise StorageError(
                        f"{Path(path).name} changed during the upload (it got shorter)"
                    )
                digest.update(block)
                puts = rng.block_put_ranges(block, start, present)
                sender.skip(len(block) - rng.total_bytes(puts))
                for put_start, put_end in puts:
                    sender.send(put_start, block[put_start - start : put_end - start])
        except BaseException:
            sender.finish(cancel=True)
            raise
        sender.finish()

        changed = source_identity(path, fd)
        if (changed.size_bytes, changed.mtime_ns) != (
            identity.size_bytes,
            identity.mtime_ns,
        ):
            raise StorageError(
                f"{Path(path).name} changed during the upload; the blob stays marked unfinished",
                hint="rerun with overwrite once the image is final",
            )
        md5 = digest.digest()
        log.info(
            "sent %d ranges (%s bytes) to %s; %s bytes skipped (zeros, or already there)",
            sender.ranges_sent, f"{sender.bytes_sent:,}", uri, f"{sender.bytes_skipped:,}",
        )
        store.set_content_md5(container, blob, md5)
        store.set_metadata(
            container, blob, {**identity.metadata(), STATE_KEY: STATE_COMPLETE}
        )
    finally:
        os.close(fd)
    return UploadResult(
        uri=uri,
        size=size,
        bytes_sent=sender.bytes_sent,
        bytes_skipped=sender.bytes_skipped,
        md5=md5.hex(),
        seconds=round(time.monotonic() - began, 3),
        resumed=resumed,
        ranges_sent=sender.ranges_sent,
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


@dataclass(frozen=True)
class VerifyResult:
    uri: str
    ok: bool
    size_ok: bool
    complete: bool  # the blob is marked complete with a Content-MD5
    bytes_compared: int
    first_mismatch: int | None = (
        None  # byte offset of the first differing 512-byte page
    )


def verify_page_blob(
    path: str | os.PathLike[str],
    store: PageBlobStore,
    container: str,
    blob: str,
    *,
    parallelism: int = DEFAULT_PARALLELISM,
    extents: Sequence[tuple[int, int]] | None = None,
) -> VerifyResult:
    """Read back every range that is non-zero in the source or written in the blob, and compare.

    Everything else is zero on both sides, so this proves the blob equals the file.
    """
    uri = store.blob_uri(container, blob)
    props = store.get_properties(container, blob)
    if props is None:
        raise StorageError(f"{uri} does not exist")
    size = os.stat(path).st_size
    complete = is_upload_complete(props)
    if props.size_bytes != size:
        return VerifyResult(uri, False, False, complete, 0)
    wanted = rng.plan_upload_ranges(path, extents=extents)
    spans = rng.split_ranges(
        rng.coalesce_ranges([*wanted, *store.get_page_ranges(container, blob)])
    )

    def compare(span: tuple[int, int]) -> int | None:
        start, end = span
        remote = store.read_range(container, blob, start, end - start)
        with open(path, "rb") as handle:
            local = os.pread(handle.fileno(), end - start, start)
        if remote == local:
            return None
        for offset in range(0, end - start, rng.PAGE_BYTES):
            if (
                remote[offset : offset + rng.PAGE_BYTES]
                != local[offset : offset + rng.PAGE_BYTES]
            ):
                return start + offset
        return start

    with ThreadPoolExecutor(
        max_workers=max(1, parallelism), thread_name_prefix="shipyard-verify"
    ) as pool:
        mismatches = [m for m in pool.map(compare, spans) if m is not None]
    first = min(mismatches) if mismatches else None
    return VerifyResult(
        uri, first is None and complete, True, complete, rng.total_bytes(spans), first
    )
