"""The embedded local page-blob store: no server, just sparse files under the shipyard home.

Layout under ``<home>/storage/``::

    <account>/<container>/<blob>                       the page blob: a sparse file
    <account>/.shipyard-meta/<container>/<blob>.json   its size, metadata, Content-MD5, copy state
    <account>/.shipyard-tmp/                           block blobs being written (``local_blocks``)

so ``local://<account>/<container>/<blob>`` maps one to one onto a path. The sidecar is written
atomically (temporary file, then ``os.replace``). Page ranges come from ``SEEK_DATA``/``SEEK_HOLE``,
refined to non-zero 512-byte pages: a filesystem block is bigger than a page, so the extents alone
would claim neighbouring pages that were never written (and a resume would skip them). Upload never
writes an all-zero page, so the refinement loses nothing. Writes are made durable as they go
(``fdatasync`` every 64 MiB written to a blob) and in full before any metadata change, so a blob
marked complete never loses data to a crash, and the last flush is short. Put Page's MD5 is not
checked: in one process there is no wire. A server-side copy between local accounts is a sparse
copy (``os.copy_file_range`` over the data extents).
"""

from __future__ import annotations

import base64
import errno
import json
import os
import threading
from pathlib import Path

from shipyard.errors import StorageError, UsageError
from shipyard.storage import ranges as rng
from shipyard.storage.local_blocks import META_DIR, LocalBlockBlobs, os_error
from shipyard.storage.store import (
    BlobProperties,
    CopyRefusedError,
    CopyState,
    PageBlobStore,
)


_FLUSH_BYTES = 64 * 1024 * 1024  # put_pages writes back (fdatasync) after this much


class LocalPageBlobStore(LocalBlockBlobs):
    """One local storage account: a directory. Thread-safe within one process.

    Its block blobs (``put_blob``, ``list_blobs``) are :mod:`shipyard.storage.local_blocks`'.
    """

    kind = "local"

    def __init__(self, account: str, root: Path) -> None:
        if not account or "/" in account or account.startswith("."):
            raise UsageError(f"'{account}' is not a valid local storage account name")
        self.account = account
        self.root = Path(root) / account
        self._lock = threading.Lock()
        self._unflushed: dict[tuple[str, str], int] = {}

    # -- paths -------------------------------------------------------------------------------------
    def blob_uri(self, container: str, blob: str) -> str:
        return f"local://{self.account}/{container}/{blob}"

    def _check_name(self, container: str, blob: str) -> None:
        if not container or "/" in container or container.startswith("."):
            raise UsageError(f"'{container}' is not a valid container name")
        parts = blob.split("/")
        if not blob or "\0" in blob or any(p in ("", ".", "..") for p in parts):
            raise UsageError(f"'{blob}' is not a valid blob name for the local store")

    def _data_path(self, container: str, blob: str) -> Path:
        self._check_name(container, blob)
        return self.root / container / blob

    def _meta_path(self, container: str, blob: str) -> Path:
        self._check_name(container, blob)
        return self.root / META_DIR / container / (blob + ".json")

    def _require_container(self, container: str) -> None:
        if not (self.root / container).is_dir():
            raise StorageError(
                f"container '{container}' does not exist in local storage account '{self.account}'",
                hint="upload creates it; check the container name",
            )

    # -- sidecar -----------------------------------------------------------------------------------
    def _read_meta(self, container: str, blob: str) -> dict | None:
        try:
            return json.loads(self._meta_path(container, blob).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StorageError(
                f"cannot read the metadata of {self.blob_uri(container, blob)}: {exc}"
            ) from None

    def _write_meta(self, container: str, blob: str, meta: dict) -> None:
        path = self._meta_path(container, blob)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "w") as handle:
                json.dump(meta, handle, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise os_error(
                exc, f"writing the metadata of {self.blob_uri(container, blob)}"
            ) from None

    def _update_meta(self, container: str, blob: str, **changes: object) -> None:
        """Change the sidecar; the blob's data is made durable first (``fsync``), so metadata that
        says an upload is complete never outlives data a crash lost."""
        with self._lock:
            meta = self._read_meta(container, blob)
            if meta is None or not self._data_path(container, blob).exists():
                raise StorageError(
                    f"blob {self.blob_uri(container, blob)} does not exist"
                )
            fd = self._open_data(container, blob, os.O_RDONLY)
            try:
                os.fsync(fd)
            except OSError as exc:
                raise os_error(exc, f"flushing {self.blob_uri(container, blob)}") from None
            finally:
                os.close(fd)
            meta.update(changes)
            self._write_meta(container, blob, meta)

    # -- interface ---------------------------------------------------------------------------------
    def ensure_container(self, container: str) -> None:
        self._check_name(container, "x")
        try:
            (self.root / container).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise os_error(exc, f"creating container '{container}'") from None

    def create_page_blob(
        self,
        container: str,
        blob: str,
        size_bytes: int,
        *,
        overwrite: bool = False,
        metadata: dict[str, str] | None = None,
    ) -> None:
        rng.check_page_blob_size(size_bytes)
        self._require_container(container)
        path = self._data_path(container, blob)
        with self._lock:
            if path.exists() and not overwrite:
                raise StorageError(
                    f"blob {self.blob_uri(container, blob)} already exists"
                )
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.unlink(missing_ok=True)  # a fresh, fully sparse file
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                try:
                    os.ftruncate(fd, size_bytes)
                finally:
                    os.close(fd)
            except OSError as exc:
                raise os_error(
                    exc, f"creating {self.blob_uri(container, blob)}"
                ) from None
            self._write_meta(
                container,
                blob,
                {
                    "size_bytes": size_bytes,
                    "metadata": dict(metadata or {}),
                    "content_md5": None,
                },
            )

    def _open_data(self, container: str, blob: str, flags: int) -> int:
        """A file descriptor on the blob's sparse data file; a missing blob is a StorageError."""
        try:
            return os.open(self._data_path(container, blob), flags)
        except FileNotFoundError:
            raise StorageError(f"blob {self.blob_uri(container, blob)} does not exist") from None

    def put_pages(
        self,
        container: str,
        blob: str,
        offset: int,
        data: bytes,
        md5: bytes | None = None,
    ) -> None:
        # ``md5`` is not checked: in one process there is no wire to corrupt the bytes, and
        # hashing them again would double the cost of a local upload
        rng.check_page_write(offset, len(data))
        fd = self._open_data(container, blob, os.O_WRONLY)
        try:
            if offset + len(data) > os.fstat(fd).st_size:
                raise StorageError(
                    f"put pages at {offset} (+{len(data)}) is past the end of the blob"
                )
            view = memoryview(data)
            while view:
                written = os.pwrite(fd, view, offset)
                view, offset = view[written:], offset + written
            if self._dirty(container, blob, len(data)):
                os.fdatasync(fd)  # write back as we go: the fsync that completes the upload is short
        except OSError as exc:
            raise os_error(
                exc, f"writing to {self.blob_uri(container, blob)}"
            ) from None
        finally:
            os.close(fd)

    def clear_pages(self, container: str, blob: str, offset: int, length: int) -> None:
        rng.check_page_write(offset, length)
        self.put_pages(container, blob, offset, bytes(length))  # zero pages are no page range here

    def _dirty(self, container: str, blob: str, count: int) -> bool:
        """Count bytes written to a blob; True once per ``_FLUSH_BYTES`` (time to write them back)."""
        with self._lock:
            total = self._unflushed.get((container, blob), 0) + count
            flush = total >= _FLUSH_BYTES
            self._unflushed[(container, blob)] = 0 if flush else total
        return flush

    def get_page_ranges(self, container: str, blob: str) -> list[tuple[int, int]]:
        fd = self._open_data(container, blob, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            found: list[tuple[int, int]] = []
            for start, end, is_data in rng.iter_segments(
                rng.find_data_extents(fd, size), size
            ):
                if is_data:
                    found.extend(
                        rng.find_nonzero_pages(os.pread(fd, end - start, start), start)
                    )
        finally:
            os.close(fd)
        return rng.coalesce_ranges(found)

    def get_properties(self, container: str, blob: str) -> BlobProperties | None:
        self._require_container(container)
        meta = self._read_meta(container, blob)
        path = self._data_path(container, blob)
        if meta is None or not path.exists():
            return None
        md5 = meta.get("content_md5")
        copy = meta.get("copy")
        return BlobProperties(
            size_bytes=path.stat().st_size,
            content_md5=base64.b64decode(md5) if md5 else None,
            metadata=dict(meta.get("metadata") or {}),
            copy=CopyState(**copy) if copy else None,
            blob_type="BlockBlob" if meta.get("blob_type") == "BlockBlob" else "PageBlob",
        )

    def set_metadata(self, container: str, blob: str, metadata: dict[str, str]) -> None:
        self._update_meta(container, blob, metadata=dict(metadata))

    def set_content_md5(self, container: str, blob: str, md5: bytes) -> None:
        self._update_meta(container, blob, content_md5=base64.b64encode(md5).decode())

    def read_range(self, container: str, blob: str, offset: int, length: int) -> bytes:
        fd = self._open_data(container, blob, os.O_RDONLY)
        try:
            return os.pread(fd, length, offset)
        finally:
            os.close(fd)

    def delete_blob(self, container: str, blob: str) -> None:
        with self._lock:
            self._meta_path(container, blob).unlink(missing_ok=True)
            self._data_path(container, blob).unlink(missing_ok=True)

    def start_copy_from(
        self,
        container: str,
        blob: str,
        source: PageBlobStore,
        source_container: str,
        source_blob: str,
        *,
        metadata: dict[str, str] | None = None,
    ) -> CopyState:
        if not isinstance(source, LocalPageBlobStore):
            raise CopyRefusedError(
                f"the local store cannot copy server side from {source.kind} storage"
            )
        props = source.get_properties(source_container, source_blob)
        if props is None:
            raise StorageError(
                f"source blob {source.blob_uri(source_container, source_blob)} does not exist"
            )
        self._require_container(container)
        target = self._data_path(container, blob)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.copy")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            _sparse_copy(source._data_path(source_container, source_blob), tmp)
            with self._lock:
                os.replace(tmp, target)
                state = CopyState("success", props.size_bytes, props.size_bytes)
                self._write_meta(
                    container,
                    blob,
                    {
                        "size_bytes": props.size_bytes,
                        "metadata": dict(props.metadata if metadata is None else metadata),
                        "content_md5": base64.b64encode(props.content_md5).decode()
                        if props.content_md5
                        else None,
                        "copy": {
                            "status": state.status,
                            "bytes_copied": state.bytes_copied,
                            "bytes_total": state.bytes_total,
                            "description": None,
                        },
                    },
                )
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise os_error(
                exc, f"copying into {self.blob_uri(container, blob)}"
            ) from None
        return state

    def copy_status(self, container: str, blob: str) -> CopyState:
        props = self.get_properties(container, blob)
        if props is None:
            raise StorageError(f"blob {self.blob_uri(container, blob)} does not exist")
        return props.copy or CopyState("success", props.size_bytes, props.size_bytes)


def _sparse_copy(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` keeping holes: only the data extents are copied."""
    src = os.open(source, os.O_RDONLY)
    try:
        dst = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            size = os.fstat(src).st_size
            os.ftruncate(dst, size)
            for start, end in rng.find_data_extents(src, size):
                offset = start
                while offset < end:
                    try:
                        copied = os.copy_file_range(
                            src, dst, end - offset, offset, offset
                        )
                    except OSError as exc:
                        if exc.errno not in (
                            errno.EXDEV,
                            errno.ENOSYS,
                            errno.EINVAL,
                            errno.EOPNOTSUPP,
                        ):
                            raise
                        chunk = os.pread(
                            src, min(end - offset, rng.BLOCK_BYTES), offset
                        )
                        copied = os.pwrite(dst, chunk, offset) if chunk else 0
                    if copied <= 0:
                        break
                    offset += copied
            os.fsync(dst)
        finally:
            os.close(dst)
    finally:
        os.close(src)
