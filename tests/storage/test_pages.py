"""The Put Page sender and the hash of zero runs that upload and replication share."""

from __future__ import annotations

import hashlib
import threading

import pytest

from shipyard.errors import StorageError
from shipyard.storage import ranges as rng
from shipyard.storage.pages import PageSender, UploadProgress, hash_zeros


@pytest.mark.parametrize("count", [0, 512, rng.BLOCK_BYTES, 3 * rng.BLOCK_BYTES + 1536])
def test_hash_zeros_is_the_digest_of_that_many_zeros(count: int) -> None:
    digest = hashlib.md5(b"head")
    hash_zeros(digest, count)
    assert digest.digest() == hashlib.md5(b"head" + bytes(count)).digest()


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
