"""The whole-stream MD5 of an image, for ``image upload --content-md5``: off the critical path, cached.

Azure never checks a blob's ``Content-MD5`` property; some download tools do. Over a sparse image
the MD5 must still hash every hole (MD5 cannot skip zeros: about 40 s for 30 GiB here), so:

- :class:`BackgroundMd5` computes it in a thread of its own while the upload sends (holes are
  fed from one reused zero buffer, never read);
- :class:`Md5Cache` keeps the result per source identity (device, inode, size, mtime, ctime and the
  fingerprint of the first and last MiB), so a second upload of the same file, or of a copy of it
  under the same identity, never hashes it again. A file that changed while it was hashed is not
  cached, and its MD5 is refused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from shipyard.errors import StorageError
from shipyard.storage import ranges as rng
from shipyard.storage.store import PageBlobStore

log = logging.getLogger(__name__)

_ZEROS = bytes(rng.BLOCK_BYTES)


def hash_zeros(digest: hashlib._Hash, count: int) -> None:
    """Feed ``count`` zero bytes to ``digest`` from one reused buffer (a hole is never read)."""
    view = memoryview(_ZEROS)
    while count > 0:
        step = min(count, len(_ZEROS))
        digest.update(view[:step])
        count -= step


class Cancelled(Exception):
    """The MD5 was no longer wanted (the upload failed)."""


def whole_stream_md5(
    fd: int,
    size_bytes: int,
    extents: Sequence[rng.Range] | None = None,
    stop: threading.Event | None = None,
    report: Callable[[int], None] | None = None,
) -> bytes:
    """The MD5 of all ``size_bytes`` of ``fd``: data extents read, holes hashed as zeros.

    ``report(bytes_hashed)`` follows it (every 4 MiB of data, every 256 MiB of holes)."""
    found = rng.find_data_extents(fd, size_bytes) if extents is None else list(extents)
    return _md5_of(size_bytes, found, lambda offset, length: os.pread(fd, length, offset),
                   "the image got shorter while its MD5 was computed", stop, report)


def blob_md5(store: PageBlobStore, container: str, blob: str, size_bytes: int) -> bytes:
    """The MD5 of a whole page blob: its written ranges read in order, the rest hashed as zeros.

    For a blob from before the sparse digest, whose Content-MD5 is all that says what it holds."""
    return _md5_of(
        size_bytes, store.get_page_ranges(container, blob),
        lambda offset, length: store.read_range(container, blob, offset, length),
        f"short read of {store.blob_uri(container, blob)}",
    )


def _md5_of(
    size_bytes: int,
    regions: Sequence[rng.Range],
    read: Callable[[int, int], bytes],
    short_read: str,
    stop: threading.Event | None = None,
    report: Callable[[int], None] | None = None,
) -> bytes:
    """The MD5 of ``size_bytes`` whose data lies in ``regions`` (read), the rest zeros (never read)."""
    digest = hashlib.md5()
    for start, end, is_data in rng.iter_segments(regions, size_bytes, hole_block=rng.BLOCK_BYTES * 64):
        if stop is not None and stop.is_set():
            raise Cancelled()
        if not is_data:
            hash_zeros(digest, end - start)
        else:
            block = read(start, end - start)
            if len(block) != end - start:
                raise StorageError(f"{short_read} (at byte {start})")
            digest.update(block)
        if report is not None:
            report(end)
    return digest.digest()


def identity_key(fd: int, fingerprint: str) -> str:
    """What names one version of one file: device, inode, size, mtime, ctime and content fingerprint.

    The ctime too: an mtime can be set back (``touch -d``, ``cp -p``, ``rsync --inplace``) after the
    middle of a file changed, a ctime cannot (setting the mtime moves it)."""
    st = os.fstat(fd)
    text = f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{fingerprint}"
    return hashlib.sha256(text.encode()).hexdigest()[:40]


class Md5Cache:
    """``<dir>/<identity key>.json``: the whole-stream MD5 of one source identity."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def get(self, key: str) -> bytes | None:
        try:
            data = json.loads((self.directory / f"{key}.json").read_text())
            return bytes.fromhex(data["md5"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, md5: bytes, size_bytes: int) -> None:
        path = self.directory / f"{key}.json"
        tmp = path.with_name(f".{key}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps({"md5": md5.hex(), "size_bytes": size_bytes}))
            os.replace(tmp, path)
        except OSError as exc:  # a cache that cannot be written only costs a recomputation
            tmp.unlink(missing_ok=True)
            log.warning("could not cache the image's MD5 in %s: %s", self.directory, exc.strerror)


class BackgroundMd5:
    """The whole-stream MD5 of ``path``, from the cache or computed in a thread started at once."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        fingerprint: str,
        cache: Md5Cache | None,
        extents: Sequence[rng.Range] | None = None,
        fd: int | None = None,
    ) -> None:
        """``fd``: the caller's open file (duplicated), so that both hash the same file even if
        another is renamed over ``path`` meanwhile."""
        self.path, self.cache, self.extents = path, cache, extents
        self._fd = os.open(path, os.O_RDONLY) if fd is None else os.dup(fd)
        self.key = identity_key(self._fd, fingerprint)
        self._stat = os.fstat(self._fd)
        self._md5 = cache.get(self.key) if cache is not None else None
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self.size_bytes = self._stat.st_size
        self.done_bytes = self.size_bytes if self._md5 is not None else 0
        self.cached = self._md5 is not None
        self._thread: threading.Thread | None = None
        if self.cached:
            os.close(self._fd)
            log.info("the MD5 of %s is cached (same file, unchanged): not recomputed", Path(path).name)
        else:
            self._thread = threading.Thread(target=self._run, name="shipyard-content-md5", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            md5 = whole_stream_md5(self._fd, self._stat.st_size, self.extents, self._stop, self._report)
            after = os.fstat(self._fd)
            if (after.st_size, after.st_mtime_ns, after.st_ctime_ns) != (
                self._stat.st_size, self._stat.st_mtime_ns, self._stat.st_ctime_ns
            ):
                raise StorageError(f"{Path(self.path).name} changed while its MD5 was computed")
            self._md5 = md5
            if self.cache is not None:
                self.cache.put(self.key, md5, self._stat.st_size)
        except Exception as exc:  # noqa: BLE001 - handed to whoever asks for the result
            self._error = exc
        finally:
            os.close(self._fd)

    def _report(self, done: int) -> None:
        self.done_bytes = done

    def wait(self, timeout: float) -> bool:
        """True once the MD5 is known (or its computation failed)."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def cancel(self) -> None:
        """Stop computing (within 256 MiB of hashing); the result is then never asked for."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def result(self) -> bytes:
        """The MD5 (waits for the thread); raises what the computation raised."""
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            if isinstance(self._error, OSError):
                raise StorageError(f"computing the MD5 of {Path(self.path).name}: {self._error.strerror}")
            raise self._error
        assert self._md5 is not None
        return self._md5
