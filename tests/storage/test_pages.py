"""The Put Page sender that upload and replication share."""

from __future__ import annotations

import hashlib
import threading

import pytest

from shipyard.errors import StorageError
from shipyard.storage.pages import PageSender, UploadProgress


class _Recorder:
    """Just enough of a store for the sender: put_pages, recorded; one offset fails."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.puts: list[tuple[int, bytes, bytes | None]] = []
        self.fail_at = fail_at
        self.lock = threading.Lock()

    def put_pages(self, container: str, blob: str, offset: int, data: bytes, md5: bytes | None = None) -> None:
        if offset == self.fail_at:
            raise StorageError(f"writing pages at {offset}: refused")
        with self.lock:
            self.puts.append((offset, data, md5))


def test_the_sender_sends_each_page_with_its_md5_and_counts() -> None:
    store = _Recorder()
    events: list[UploadProgress] = []
    sender = PageSender(store, "vhds", "a.vhd", 8192, 2, events.append)
    sender.skip(1024)
    for offset in (1024, 4096):
        sender.send(offset, bytes([offset // 512]) * 512)
    sender.finish()
    assert sorted((o, md5) for o, _, md5 in store.puts) == [
        (o, hashlib.md5(bytes([o // 512]) * 512).digest()) for o in (1024, 4096)
    ]
    assert (sender.bytes_sent, sender.bytes_skipped, sender.ranges_sent) == (1024, 1024, 2)
    assert events[0] == UploadProgress(8192, 0, 1024, None)
    assert events[-1].bytes_done == 2048 and events[-1].sent_range is not None


def test_the_first_error_is_raised_once_the_workers_are_done() -> None:
    sender = PageSender(_Recorder(fail_at=512), "vhds", "a.vhd", 4096, 1, None)
    sender.send(0, bytes(512))
    sender.send(512, bytes(512))
    with pytest.raises(StorageError, match="writing pages at 512: refused"):
        sender.finish()


def test_recorded_runs_keep_the_md5_sent_with_the_page_and_hash_the_rest() -> None:
    store = _Recorder()
    sender = PageSender(store, "vhds", "a.vhd", 8192, 2, None)
    sent, held = b"\x01" * 1024, b"\x02" * 512
    sender.send(0, sent, record=True)
    sender.send(2048, b"\x03" * 512)  # a piece of a run, not a run: its MD5 is not kept
    sender.record(4096, held)  # a run the blob holds already: hashed, not sent
    sender.finish()
    assert sorted(sender.runs) == [
        (0, 1024, hashlib.md5(sent).digest()),
        (4096, 4608, hashlib.md5(held).digest()),
    ]
    assert sorted(o for o, _, _ in store.puts) == [0, 2048]
    assert sender.bytes_sent == 1536


def test_a_page_cancelled_by_finish_is_no_error_and_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    """``finish(cancel=True)`` (after an error, or Ctrl-C) cancels the queued pages; their done
    callback must not ask a cancelled future for its exception (that raises CancelledError, which
    the executor logs as 'exception calling callback' with a traceback, on the user's terminal)."""
    from concurrent.futures import Future

    sender = PageSender(_Recorder(), "vhds", "a.vhd", 8192, 1, None)
    sender.slots.acquire()  # the slot that the cancelled page held
    cancelled: Future[None] = Future()
    assert cancelled.cancel()
    cancelled.add_done_callback(sender._done)  # a done future runs the callback at once, as the pool's would
    assert not [r for r in caplog.records if "exception calling callback" in r.getMessage()]
    assert sender.error is None
    sender.finish(cancel=True)
