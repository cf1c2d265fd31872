"""The local store's block blobs: whole files, written atomically beside its page blobs.

A block blob is stored exactly as a page blob is (see :mod:`shipyard.storage.local`): its bytes
at ``<account>/<container>/<blob>`` and its sidecar at
``<account>/.shipyard-meta/<container>/<blob>.json``, whose ``blob_type`` says ``BlockBlob``.
The bytes are written to a file of ``<account>/.shipyard-tmp/`` (no container can be named so,
so no blob ever collides with it), flushed, then renamed over the blob's path: a reader sees the
old blob or the whole new one, never a part. A blob named ``a`` and one named ``a/b`` cannot both
exist here (one would be a file, the other a folder): that write fails with one line.

:func:`os_error` is the local store's one mapping of an ``OSError`` to a ``StorageError``.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Protocol

from shipyard.errors import StorageError
from shipyard.storage.store import BlobData, BlobItem

META_DIR = ".shipyard-meta"
TMP_DIR = ".shipyard-tmp"
CHUNK_BYTES = 4 << 20


def os_error(exc: OSError, what: str) -> StorageError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageError(
            f"no space left on the device while {what}",
            hint="free some space and rerun",
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return StorageError(f"permission denied while {what}")
    return StorageError(f"{what} failed: {exc.strerror or exc}")


class _Store(Protocol):
    """What the mixin uses of :class:`~shipyard.storage.local.LocalPageBlobStore`."""

    account: str
    root: Path
    _lock: threading.Lock

    def blob_uri(self, container: str, blob: str) -> str: ...
    def _data_path(self, container: str, blob: str) -> Path: ...
    def _meta_path(self, container: str, blob: str) -> Path: ...
    def _require_container(self, container: str) -> None: ...
    def _write_meta(self, container: str, blob: str, meta: dict[str, Any]) -> None: ...


class LocalBlockBlobs:
    """``put_blob`` and ``list_blobs`` of the local store (mixed into ``LocalPageBlobStore``)."""

    def put_blob(
        self: _Store,
        container: str,
        blob: str,
        data: BlobData,
        *,
        overwrite: bool = True,
        metadata: dict[str, str] | None = None,
    ) -> None:
        uri = self.blob_uri(container, blob)
        target = self._data_path(container, blob)
        self._require_container(container)
        tmp: Path | None = None
        try:
            (self.root / TMP_DIR).mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=self.root / TMP_DIR, prefix="put-")
            tmp = Path(name)
            with os.fdopen(fd, "wb") as out:
                os.fchmod(out.fileno(), 0o644)
                size, md5 = _write(out, data, uri)
                out.flush()
                os.fsync(out.fileno())
            meta = {
                "blob_type": "BlockBlob",
                "size_bytes": size,
                "metadata": dict(metadata or {}),
                "content_md5": base64.b64encode(md5).decode(),
            }
            with self._lock:
                _make_parent(target, uri)
                if target.is_dir():
                    raise StorageError(f"the local store cannot hold blob {uri}: other blobs' names go on from "
                                       f"'{blob}/' (a folder here)")
                if overwrite:
                    os.replace(tmp, target)
                else:
                    try:
                        os.link(tmp, target)  # fails, atomically, if the name is taken
                    except FileExistsError:
                        raise StorageError(f"blob {uri} already exists") from None
                self._write_meta(container, blob, meta)
        except OSError as exc:
            raise os_error(exc, f"writing {uri}") from None
        finally:
            if tmp is not None:
                tmp.unlink(missing_ok=True)

    def list_blobs(self: _Store, container: str, prefix: str = "") -> list[BlobItem]:
        self._require_container(container)
        base = self.root / container
        folder = prefix.rpartition("/")[0]
        top = base.joinpath(*folder.split("/")) if folder else base
        found: list[BlobItem] = []
        for dirpath, dirnames, filenames in os.walk(top):  # links are not followed
            dirnames.sort()
            relative = Path(dirpath).relative_to(base).as_posix()
            for filename in filenames:
                blob = filename if relative == "." else f"{relative}/{filename}"
                if not blob.startswith(prefix):
                    continue
                try:
                    if not self._meta_path(container, blob).is_file():
                        continue  # a copy's temporary file, or something that is not a blob
                    size = os.stat(os.path.join(dirpath, filename)).st_size
                except (OSError, StorageError):  # gone meanwhile, or a name no blob can have
                    continue
                found.append(BlobItem(blob, size))
        return sorted(found, key=lambda item: item.name)


def _write(out: Any, data: BlobData, uri: str) -> tuple[int, bytes]:
    """Copy ``data`` (bytes or a file's path) to ``out``; its size and MD5."""
    digest = hashlib.md5()
    if isinstance(data, bytes | bytearray | memoryview):
        out.write(data)
        digest.update(data)
        return len(data), digest.digest()
    size = 0
    try:
        source = open(data, "rb")  # noqa: SIM115 - closed below; its errors are the source's
    except OSError as exc:
        raise StorageError(f"cannot read {os.fspath(data)} for {uri}: {exc.strerror or exc}") from None
    with source:
        while True:
            try:
                chunk = source.read(CHUNK_BYTES)
            except OSError as exc:
                raise StorageError(f"cannot read {os.fspath(data)} for {uri}: {exc.strerror or exc}") from None
            if not chunk:
                return size, digest.digest()
            out.write(chunk)
            digest.update(chunk)
            size += len(chunk)


def _make_parent(target: Path, uri: str) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise StorageError(f"the local store cannot hold blob {uri}: a blob has the name of one of its "
                           "folders") from None
