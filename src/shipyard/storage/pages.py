"""Page writes that upload and replication share: the Put Page sender and the hash of zero runs.

- :class:`PageSender`: a bounded pool of Put Page workers (each page with its transactional MD5),
  counting what was sent and skipped, reporting :class:`UploadProgress`, keeping the first error.
- :func:`hash_zeros`: feed a run of zeros (a hole, never read) to a whole-stream digest.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from shipyard.storage import ranges as rng
from shipyard.storage.store import PageBlobStore

_ZEROS = bytes(rng.BLOCK_BYTES)


@dataclass(frozen=True)
class UploadProgress:
    size_bytes: int
    bytes_sent: int
    bytes_skipped: int  # zeros not sent, and pages the blob already had
    sent_range: tuple[int, int] | None = None  # the Put Page that just finished, if any

    @property
    def bytes_done(self) -> int:
        return self.bytes_sent + self.bytes_skipped


ProgressCallback = Callable[[UploadProgress], None]


class PageSender:
    """A bounded pool of Put Page workers, with progress accounting and the first error kept."""

    def __init__(
        self,
        store: PageBlobStore,
        container: str,
        blob: str,
        size: int,
        parallelism: int,
        progress: ProgressCallback | None,
    ) -> None:
        self.store, self.container, self.blob, self.size = store, container, blob, size
        self.progress = progress
        self.pool = ThreadPoolExecutor(
            max_workers=parallelism, thread_name_prefix="shipyard-put"
        )
        self.slots = threading.BoundedSemaphore(parallelism * 2)
        self.lock = threading.Lock()
        self.error: BaseException | None = None
        self.bytes_sent = self.bytes_skipped = self.ranges_sent = 0

    def skip(self, count: int) -> None:
        if count:
            with self.lock:
                self.bytes_skipped += count
                self._report(None)

    def _report(self, sent: tuple[int, int] | None) -> None:
        if self.progress is not None:
            self.progress(
                UploadProgress(self.size, self.bytes_sent, self.bytes_skipped, sent)
            )

    def send(self, offset: int, data: bytes) -> None:
        self.slots.acquire()
        if self.error is not None:
            self.slots.release()
            raise self.error
        future = self.pool.submit(self._put, offset, data)
        future.add_done_callback(self._done)

    def _put(self, offset: int, data: bytes) -> None:
        self.store.put_pages(
            self.container, self.blob, offset, data, hashlib.md5(data).digest()
        )
        with self.lock:
            self.bytes_sent += len(data)
            self.ranges_sent += 1
            self._report((offset, offset + len(data)))

    def _done(self, future: Future[None]) -> None:
        exc = future.exception()
        if exc is not None and self.error is None:
            self.error = exc
        self.slots.release()

    def finish(self, cancel: bool = False) -> None:
        self.pool.shutdown(wait=True, cancel_futures=cancel)
        if self.error is not None and not cancel:
            raise self.error


def hash_zeros(digest: hashlib._Hash, count: int) -> None:
    """Feed ``count`` zero bytes to ``digest`` from one reused buffer (a hole is never read)."""
    view = memoryview(_ZEROS)
    while count > 0:
        step = min(count, len(_ZEROS))
        digest.update(view[:step])
        count -= step
