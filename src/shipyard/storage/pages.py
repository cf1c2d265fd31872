"""Page writes that upload and replication share: the Put Page sender.

- :class:`PageSender`: a bounded pool of Put Page workers (each page with its transactional MD5,
  computed once, in the worker), counting what was sent and skipped, reporting
  :class:`UploadProgress`, keeping the first error, and collecting the canonical runs' MD5s for
  the sparse digest (:mod:`shipyard.storage.digest`): a run sent whole reuses its Put Page's
  MD5; one the blob already holds (a resume) is hashed by :meth:`PageSender.record`.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from shipyard.storage.digest import Run
from shipyard.storage.store import PageBlobStore


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
        self.runs: list[Run] = []  # (start, end, md5) of the runs sent with record=True or recorded

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

    def send(self, offset: int, data: bytes, *, record: bool = False) -> None:
        """Put ``data`` at ``offset``; ``record``: it is a whole canonical run, keep its MD5."""
        self._submit(self._put, offset, data, record)

    def record(self, offset: int, data: bytes) -> None:
        """Keep the MD5 of a canonical run without sending it (the blob holds it already)."""
        self._submit(self._hash, offset, data)

    def _submit(self, func: Callable[..., None], *args: object) -> None:
        self.slots.acquire()
        if self.error is not None:
            self.slots.release()
            raise self.error
        future = self.pool.submit(func, *args)
        future.add_done_callback(self._done)

    def _hash(self, offset: int, data: bytes) -> None:
        md5 = hashlib.md5(data).digest()
        with self.lock:
            self.runs.append((offset, offset + len(data), md5))

    def _put(self, offset: int, data: bytes, record: bool) -> None:
        md5 = hashlib.md5(data).digest()
        self.store.put_pages(self.container, self.blob, offset, data, md5)
        with self.lock:
            if record:
                self.runs.append((offset, offset + len(data), md5))
            self.bytes_sent += len(data)
            self.ranges_sent += 1
            self._report((offset, offset + len(data)))

    def _done(self, future: Future[None]) -> None:
        # a page cancelled by ``finish(cancel=True)`` (an error, Ctrl-C) has no exception to ask
        # for: ``future.exception()`` would raise CancelledError here, which the executor logs
        # with a traceback
        exc = None if future.cancelled() else future.exception()
        if exc is not None and self.error is None:
            self.error = exc
        self.slots.release()

    def finish(self, cancel: bool = False) -> None:
        self.pool.shutdown(wait=True, cancel_futures=cancel)
        if self.error is not None and not cancel:
            raise self.error
