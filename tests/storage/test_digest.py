"""The sparse digest: its definition, and that it depends on the content alone."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from fixtures.azurite import MIB
from fixtures.wire import WireStore
from shipyard.errors import StorageError
from shipyard.storage import ranges as rng
from shipyard.storage.digest import (
    DIGEST_KEY,
    DIGEST_VERSION_KEY,
    differing_ranges,
    recorded_digest,
    scan_blob,
    scan_file,
    sparse_digest,
)
from shipyard.storage.store import BlobProperties
from shipyard.storage.upload import upload_page_blob
from shipyard.storage.upload_state import upload_state


def _by_hand(size: int, runs: list[tuple[int, bytes]]) -> str:
    """Version 1, written out from its definition."""
    digest = hashlib.sha256(b"shipyard-sparse-v1\0" + size.to_bytes(8, "big"))
    for start, data in runs:
        digest.update(start.to_bytes(8, "big") + len(data).to_bytes(8, "big") + hashlib.md5(data).digest())
    return digest.hexdigest()


def test_the_digest_is_its_definition(image_factory, tmp_path: Path) -> None:
    run = os.urandom(6 * MIB)  # from 1 MiB to 7 MiB: cut at 4 MiB into two runs
    image = image_factory(tmp_path / "d.vhd", 16, [(MIB, run), (12 * MIB, b"\x07" * 512)])
    footer = image.read_bytes()[16 * MIB :]
    scan = scan_file(image)
    assert scan.digest == _by_hand(
        16 * MIB + 512,
        [(MIB, run[: 3 * MIB]), (4 * MIB, run[3 * MIB :]), (12 * MIB, b"\x07" * 512), (16 * MIB, footer)],
    )
    assert [(s, e) for s, e, _ in scan.runs] == [
        (MIB, 4 * MIB), (4 * MIB, 7 * MIB), (12 * MIB, 12 * MIB + 512), (16 * MIB, 16 * MIB + 512)
    ]
    assert scan.data_bytes == 6 * MIB + 1024
    assert sparse_digest(scan.size_bytes, reversed(scan.runs)) == scan.digest  # any order in, sorted


def test_holes_and_written_zeros_read_the_same(image_factory, tmp_path: Path) -> None:
    data = [(2 * MIB, os.urandom(4096)), (9 * MIB + 512, b"\x01" * 1024)]
    sparse = image_factory(tmp_path / "sparse.vhd", 16, data)
    dense = tmp_path / "dense.vhd"
    dense.write_bytes(sparse.read_bytes())  # every zero written: one extent of 16 MiB
    with open(dense, "rb") as handle:
        assert rng.find_data_extents(handle.fileno(), dense.stat().st_size) == [(0, dense.stat().st_size)]
    assert scan_file(dense).digest == scan_file(sparse).digest
    assert scan_file(sparse).bytes_read < scan_file(dense).bytes_read  # the holes are never read
    other = image_factory(tmp_path / "other.vhd", 16, [(2 * MIB, os.urandom(4096)), data[1]])
    assert scan_file(other).digest != scan_file(sparse).digest


def test_the_size_is_part_of_the_digest(image_factory, tmp_path: Path) -> None:
    small = image_factory(tmp_path / "a.vhd", 8, [(0, b"\x01" * 512)])
    big = image_factory(tmp_path / "b.vhd", 9, [(0, b"\x01" * 512)])
    assert scan_file(small).digest != scan_file(big).digest


def test_differing_ranges_names_the_runs_either_side_lacks() -> None:
    a = [(0, 512, b"a" * 16), (4096, 8192, b"b" * 16)]
    b = [(0, 512, b"a" * 16), (4096, 8192, b"X" * 16), (9216, 9728, b"c" * 16)]
    assert differing_ranges(a, b) == [(4096, 8192), (9216, 9728)]
    assert differing_ranges(a, a) == []


def test_recorded_digest_needs_its_version() -> None:
    assert recorded_digest(BlobProperties(1, metadata={DIGEST_KEY: "ab", DIGEST_VERSION_KEY: "1"})) == "ab"
    assert recorded_digest(BlobProperties(1, metadata={DIGEST_KEY: "ab", DIGEST_VERSION_KEY: "2"})) is None
    assert recorded_digest(BlobProperties(1, metadata={DIGEST_KEY: "ab"})) is None
    assert recorded_digest(None) is None


def test_the_digest_does_not_depend_on_parallelism_or_resumption(
    store, container, sparse_image: Path
) -> None:
    expected = scan_file(sparse_image).digest
    one = upload_page_blob(sparse_image, store, container, "p1.vhd", parallelism=1)
    eight = upload_page_blob(sparse_image, store, container, "p8.vhd", parallelism=8)
    # the first upload dies after 3 Put Pages; the rerun resumes with 2 workers
    with pytest.raises(StorageError):
        upload_page_blob(sparse_image, WireStore(store, fail_after=3), container, "r.vhd", parallelism=1)
    assert upload_state(store.get_properties(container, "r.vhd")) == "in_progress"
    resumed = upload_page_blob(sparse_image, store, container, "r.vhd", parallelism=2)
    assert resumed.resumed and 0 < resumed.ranges_sent < one.ranges_sent
    assert one.sparse_sha256 == eight.sparse_sha256 == resumed.sparse_sha256 == expected
    for blob in ("p1.vhd", "p8.vhd", "r.vhd"):
        assert recorded_digest(store.get_properties(container, blob)) == expected
        assert scan_blob(store, container, blob).digest == expected


def test_a_run_the_blob_holds_in_part_is_sent_in_part_and_hashed_whole(
    store, container, sparse_image: Path
) -> None:
    first = upload_page_blob(sparse_image, store, container, "disk.vhd")
    # the 4 MiB run from 20 MiB + 512 loses its middle, and the blob is marked unfinished again
    store.clear_pages(container, "disk.vhd", 22 * MIB, MIB)
    props = store.get_properties(container, "disk.vhd")
    store.set_metadata(container, "disk.vhd", {**props.metadata, "shipyard_upload": "in_progress"})
    sent: list[tuple[int, int]] = []
    again = upload_page_blob(sparse_image, store, container, "disk.vhd",
                             progress=lambda e: e.sent_range and sent.append(e.sent_range))
    assert sent == [(22 * MIB, 23 * MIB)]
    assert again.sparse_sha256 == first.sparse_sha256 == scan_blob(store, container, "disk.vhd").digest


def test_scan_blob_reads_only_what_was_written(store, container, sparse_image: Path) -> None:
    upload_page_blob(sparse_image, store, container, "disk.vhd")
    scan = scan_blob(store, container, "disk.vhd")
    written = store.get_page_ranges(container, "disk.vhd")
    assert scan.digest == scan_file(sparse_image).digest
    assert scan.bytes_read == rng.total_bytes(written) < sparse_image.stat().st_size // 8
    assert scan.requests == len([s for s in rng.iter_segments(written, scan.size_bytes) if s[2]])
    with pytest.raises(StorageError, match="does not exist"):
        scan_blob(store, container, "nosuch.vhd")
