"""Upload end to end, against the local store and Azurite alike (``store_kind`` parametrizes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fixtures.wire import WireStore
from shipyard.config.credentials import StorageLink
from shipyard.errors import StorageError, UsageError
from shipyard.storage import ranges as rng
from shipyard.storage.digest import recorded_digest, scan_file
from shipyard.storage.pages import UploadProgress
from shipyard.storage.upload import upload_page_blob
from shipyard.storage.upload_state import is_upload_complete, upload_state
from shipyard.storage.verify import verify_blob

MIB = 1024 * 1024
EXPECTED_RANGES = [  # the non-zero pages of the ``sparse_image`` fixture
    (0, 1024),
    (4 * MIB - 1024, 4 * MIB + 1024),
    (10 * MIB + 4096, 10 * MIB + 4608),
    (20 * MIB + 512, 25 * MIB + 512),
    (40 * MIB, 40 * MIB + 512),
    (64 * MIB, 64 * MIB + 512),  # the footer
]


def _digest(path: Path) -> str:
    return scan_file(path).digest


def _download(store, container: str, blob: str, size: int) -> bytes:
    return b"".join(
        store.read_range(container, blob, o, min(4 * MIB, size - o))
        for o in range(0, size, 4 * MIB)
    )


def test_upload_of_a_mostly_empty_image(store, container, sparse_image: Path) -> None:
    events: list[UploadProgress] = []
    result = upload_page_blob(
        sparse_image, store, container, "disk.vhd", progress=events.append
    )

    size = sparse_image.stat().st_size
    assert result.bytes_sent == rng.total_bytes(EXPECTED_RANGES)
    assert result.bytes_sent + result.bytes_skipped == size
    assert result.ranges_sent == len(rng.plan_upload_ranges(sparse_image)) == 8
    assert result.sparse_sha256 == _digest(sparse_image)
    assert result.content_md5 is None  # only when asked for
    assert result.resumed is False
    assert result.uri == store.blob_uri(container, "disk.vhd")
    assert store.get_page_ranges(container, "disk.vhd") == EXPECTED_RANGES
    assert _download(store, container, "disk.vhd", size) == sparse_image.read_bytes()

    props = store.get_properties(container, "disk.vhd")
    assert props.size_bytes == size
    assert props.content_md5 is None
    assert recorded_digest(props) == result.sparse_sha256
    assert is_upload_complete(props)
    assert events[-1].bytes_done == size
    assert sum(1 for e in events if e.sent_range) == 8
    assert set(result.to_json()) == {
        "uri",
        "size",
        "bytes_sent",
        "bytes_skipped",
        "content_md5",
        "sparse_sha256",
        "seconds",
        "resumed",
        "verify",
    }
    assert verify_blob(store, container, "disk.vhd", against=sparse_image).ok


def test_random_image_is_sent_in_4_mib_put_pages(
    store, container, tmp_path: Path, image_factory
) -> None:
    image = image_factory(tmp_path / "random.vhd", 9, [(0, os.urandom(9 * MIB))])
    sent: list[tuple[int, int]] = []
    result = upload_page_blob(
        image,
        store,
        container,
        "r.vhd",
        parallelism=3,
        progress=lambda e: e.sent_range and sent.append(e.sent_range),
    )
    assert sorted(sent) == [(0, 4 * MIB), (4 * MIB, 8 * MIB), (8 * MIB, 9 * MIB + 512)]
    assert result.bytes_sent == image.stat().st_size
    assert (
        _download(store, container, "r.vhd", image.stat().st_size) == image.read_bytes()
    )


def test_rerun_of_a_finished_upload_sends_nothing(
    store, container, sparse_image: Path
) -> None:
    first = upload_page_blob(sparse_image, store, container, "disk.vhd")
    again = upload_page_blob(sparse_image, store, container, "disk.vhd")
    assert again.resumed and again.bytes_sent == 0
    assert again.sparse_sha256 == first.sparse_sha256 == _digest(sparse_image)
    assert is_upload_complete(store.get_properties(container, "disk.vhd"))


def test_changed_source_refuses_to_resume(store, container, sparse_image: Path) -> None:
    upload_page_blob(sparse_image, store, container, "disk.vhd")
    with open(sparse_image, "r+b") as handle:
        handle.seek(30 * MIB)
        handle.write(b"new data")
    with pytest.raises(
        StorageError, match="uploaded from a different source"
    ) as caught:
        upload_page_blob(sparse_image, store, container, "disk.vhd")
    assert "\n" not in str(caught.value) and "overwrite" in caught.value.hint

    result = upload_page_blob(
        sparse_image, store, container, "disk.vhd", overwrite=True
    )
    assert not result.resumed
    assert (
        _download(store, container, "disk.vhd", result.size)
        == sparse_image.read_bytes()
    )


def test_a_blob_shipyard_did_not_upload_is_not_touched(
    store, container, sparse_image: Path
) -> None:
    store.ensure_container(container)
    store.create_page_blob(container, "other.vhd", 4096)
    with pytest.raises(StorageError, match="not uploaded by shipyard"):
        upload_page_blob(sparse_image, store, container, "other.vhd")


def test_a_failed_upload_is_never_complete(
    store, container, sparse_image: Path
) -> None:
    with pytest.raises(StorageError, match="injected failure"):
        upload_page_blob(
            sparse_image, WireStore(store, fail_after=2), container, "disk.vhd", parallelism=1
        )
    props = store.get_properties(container, "disk.vhd")
    assert upload_state(props) == "in_progress" and not is_upload_complete(props)
    result = upload_page_blob(sparse_image, store, container, "disk.vhd")
    assert result.resumed and result.bytes_sent < rng.total_bytes(EXPECTED_RANGES)
    assert is_upload_complete(store.get_properties(container, "disk.vhd"))


def test_source_changed_during_upload(store, container, sparse_image: Path) -> None:
    def touch(event: UploadProgress) -> None:
        os.utime(sparse_image, ns=(1, 1))

    with pytest.raises(StorageError, match="changed during the upload"):
        upload_page_blob(sparse_image, store, container, "disk.vhd", progress=touch)
    assert not is_upload_complete(store.get_properties(container, "disk.vhd"))


def test_size_not_a_multiple_of_512_is_refused(
    store, container, tmp_path: Path
) -> None:
    odd = tmp_path / "odd.img"
    odd.write_bytes(b"x" * 1000)
    with pytest.raises(UsageError, match="512-byte pages"):
        upload_page_blob(odd, store, container, "odd.vhd")


def test_verify_finds_a_differing_page(store, container, sparse_image: Path) -> None:
    upload_page_blob(sparse_image, store, container, "disk.vhd")
    store.put_pages(container, "disk.vhd", 30 * MIB, b"\x05" * 512)
    result = verify_blob(store, container, "disk.vhd", against=sparse_image)
    assert not result.ok and result.mismatched == [(30 * MIB, 30 * MIB + 512)]
    recorded = verify_blob(store, container, "disk.vhd")  # against the digest recorded at upload
    assert not recorded.ok and recorded.mismatched == []
    assert recorded.blob_sha256 == result.blob_sha256 != recorded.expected_sha256


CHILD = textwrap.dedent(
    """
    import json, os, signal, sys
    from shipyard.config.credentials import StorageLink
    from shipyard.storage.open import open_store
    from shipyard.storage.upload import upload_page_blob

    args = json.loads(sys.argv[1])
    store = open_store(StorageLink(**args["link"]), args["home"])
    log = os.open(args["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    count = 0

    def progress(event):
        global count
        if event.sent_range:
            os.write(log, f"{event.sent_range[0]} {event.sent_range[1]}\\n".encode())
            count += 1
            if count == args["kill_after"]:
                os.kill(os.getpid(), signal.SIGKILL)

    upload_page_blob(args["path"], store, args["container"], "disk.vhd", parallelism=1, progress=progress)
    """
)


def _link_args(link: StorageLink) -> dict:
    return {
        "account": link.account,
        "account_key": link.account_key.get_secret_value()
        if link.account_key
        else None,
        "endpoint": link.endpoint,
        "blob_endpoint": link.blob_endpoint,
    }


def test_resume_after_sigkill(
    links, store, home: Path, container, sparse_image: Path, tmp_path: Path
) -> None:
    log = tmp_path / "sent.log"
    args = {
        "link": _link_args(links["sa1"]),
        "home": str(home),
        "log": str(log),
        "kill_after": 3,
        "path": str(sparse_image),
        "container": container,
    }
    child = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(args)],
        check=False,
        capture_output=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]

    before = [tuple(map(int, line.split())) for line in log.read_text().splitlines()]
    assert len(before) == 3
    props = store.get_properties(container, "disk.vhd")
    assert upload_state(props) == "in_progress" and not is_upload_complete(props)

    again: list[tuple[int, int]] = []
    result = upload_page_blob(
        sparse_image,
        store,
        container,
        "disk.vhd",
        progress=lambda e: e.sent_range and again.append(e.sent_range),
    )
    planned = rng.plan_upload_ranges(sparse_image)
    assert result.resumed
    assert result.ranges_sent == len(again) == len(planned) - 3  # nothing sent twice
    assert not set(again) & set(before)
    assert sorted([*before, *again]) == planned
    assert result.sparse_sha256 == _digest(sparse_image)
    props = store.get_properties(container, "disk.vhd")
    assert is_upload_complete(props) and recorded_digest(props) == result.sparse_sha256
    assert (
        _download(store, container, "disk.vhd", result.size)
        == sparse_image.read_bytes()
    )
