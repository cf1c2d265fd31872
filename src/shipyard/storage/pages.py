"""Page writes that upload and replication share: the Put Page sender, and the loop that feeds it.

- :class:`PageSender`: a bounded pool of Put Page workers (each page with its transactional MD5,
  computed once, in the worker), counting what was sent and skipped, reporting
  :class:`UploadProgress`, keeping the first error, and collecting the canonical runs' MD5s for
  the sparse digest (:mod:`shipyard.storage.digest`): a run sent whole reuses its Put Page's
  MD5; one the blob already holds (a resume) is hashed by :meth:`PageSender.record`.
- :func:`send_runs`: an image's canonical runs, less what the blob holds, through a sender; the
  image read from a file (upload) or from another blob (a streamed replica).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from shipyard.errors import StorageError
from shipyard.storage import ranges as rng
from shipyard.storage.digest import Run, block_runs
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


def send_runs(
    read: Callable[[int, int], bytes],
    regions: Sequence[rng.Range],
    size: int,
    present: Sequence[rng.Range],
    sender: PageSender,
    short_read: str,
) -> PageSender:
    """Send every canonical run of the image that the blob lacks, recording each run's MD5.

    The image is ``size`` bytes whose data lies in ``regions`` (read 4 MiB-aligned block by block
    with ``read``; the rest are zeros, never read); ``present``: what the blob holds already (a
    resume). A run the blob holds in part is hashed whole and only its missing pieces are sent.
    Returns ``sender``, finished; ``short_read`` is the error for a block that reads short.
    """
    try:
        for start, end, is_data in rng.iter_segments(regions, size):
            if not is_data:
                sender.skip(end - start)
                continue
            block = read(start, end - start)
            if len(block) != end - start:
                raise StorageError(short_read)
            sent = 0
            for run_start, run_end in block_runs(block, start):
                data = block if (run_start, run_end) == (start, end) else block[run_start - start : run_end - start]
                missing = rng.subtract_coalesced([(run_start, run_end)], present) if present else None
                if missing is None or missing == [(run_start, run_end)]:
                    sender.send(run_start, data, record=True)
                    sent += run_end - run_start
                    continue
                sender.record(run_start, data)  # the blob has (some of) it: hash it, send the rest
                for put_start, put_end in missing:
                    sender.send(put_start, block[put_start - start : put_end - start])
                    sent += put_end - put_start
            sender.skip(len(block) - sent)
    except BaseException:
        sender.finish(cancel=True)
        raise
    sender.finish()
    return sender
