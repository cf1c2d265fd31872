"""Verifying a blob by its sparse digest: upload --verify, its repair, and verify_blob on its own.

The wire is corrupted in process here (a store whose Put Page flips a byte), on both stores; the
same over real HTTP, through a proxy in front of Azurite, is in ``test_upload_faults``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.azurite import MIB
from fixtures.wire import WireStore
from shipyard.errors import StorageError
from shipyard.storage.digest import recorded_digest, scan_file
from shipyard.storage.upload import upload_page_blob
from shipyard.storage.upload_state import is_upload_complete, upload_state
from shipyard.storage.verify import VerifyFailed, verify_blob

RUN = (20 * MIB + 512, 24 * MIB)  # a canonical run of the sparse image: the 5 MiB write, cut at 24 MiB


def corrupting(store) -> WireStore:
    """The store, through a wire that flips one byte of ``RUN``'s Put Page."""
    return WireStore(store, corrupt_at=RUN[0] + 100)


def test_verify_catches_a_corrupted_page_names_it_and_a_rerun_resends_only_it(
    store, container, sparse_image: Path
) -> None:
    wire = corrupting(store)
    with pytest.raises(VerifyFailed) as caught:
        upload_page_blob(sparse_image, wire, container, "disk.vhd", verify=True)
    assert wire.flipped == 1 and caught.value.ranges == [RUN]
    assert str(caught.value) == (
        f"verify failed for {store.blob_uri(container, 'disk.vhd')}: bytes {RUN[0]}-{RUN[1]} "
        f"({RUN[1] - RUN[0]:,} bytes) differ from disk.vhd; the blob stays marked unfinished"
    )
    assert caught.value.hint == "rerun the upload: it resends only those ranges"
    props = store.get_properties(container, "disk.vhd")
    assert upload_state(props) == "in_progress" and not is_upload_complete(props)
    assert RUN not in store.get_page_ranges(container, "disk.vhd")  # cleared, so a rerun sends it

    sent: list[tuple[int, int]] = []
    repaired = upload_page_blob(sparse_image, store, container, "disk.vhd", verify=True,
                                progress=lambda e: e.sent_range and sent.append(e.sent_range))
    assert sent == [RUN]
    assert repaired.verified is not None and repaired.verified.ok
    assert repaired.sparse_sha256 == scan_file(sparse_image).digest
    assert is_upload_complete(store.get_properties(container, "disk.vhd"))


def test_without_verify_the_corruption_goes_unseen_until_verify_blob(store, container, sparse_image: Path) -> None:
    upload_page_blob(sparse_image, corrupting(store), container, "disk.vhd")  # no --verify
    against = verify_blob(store, container, "disk.vhd", against=sparse_image)
    assert not against.ok and against.mismatched == [RUN]
    assert against.problem() == (
        f"{store.blob_uri(container, 'disk.vhd')}: the blob's content does not match the image: "
        f"bytes {RUN[0]}-{RUN[1]} ({RUN[1] - RUN[0]:,} bytes) differ"
    )
    recorded = verify_blob(store, container, "disk.vhd")
    assert not recorded.ok and recorded.expected_sha256 == recorded_digest(store.get_properties(container, "disk.vhd"))
    assert "does not match the digest recorded at upload" in (recorded.problem() or "")
    assert is_upload_complete(store.get_properties(container, "disk.vhd"))  # verify_blob changes nothing


def test_verify_blob_of_a_good_upload(store, container, sparse_image: Path) -> None:
    result = upload_page_blob(sparse_image, store, container, "disk.vhd")
    good = verify_blob(store, container, "disk.vhd", against=sparse_image)
    assert good.ok and good.complete and good.problem() is None and good.mismatched == []
    assert good.blob_sha256 == good.expected_sha256 == good.source_sha256 == good.recorded_sha256 == result.sparse_sha256
    assert good.bytes_read == result.bytes_sent  # in proportion to the data, not the size
    assert set(good.to_json()) == {
        "uri", "ok", "complete", "size_ok", "blob_sha256", "expected_sha256", "recorded_sha256", "source_sha256",
        "mismatched", "bytes_read", "requests", "seconds",
    }


def test_an_unfinished_upload_is_not_good_even_when_its_content_matches(store, container, sparse_image: Path) -> None:
    upload_page_blob(sparse_image, store, container, "disk.vhd")
    props = store.get_properties(container, "disk.vhd")
    store.set_metadata(container, "disk.vhd", {**props.metadata, "shipyard_upload": "in_progress"})
    result = verify_blob(store, container, "disk.vhd", against=sparse_image)
    assert result.ok and not result.complete
    assert "the upload is unfinished" in (result.problem() or "")


def test_a_blob_with_no_digest_needs_an_image_to_compare(store, container, sparse_image: Path, image_factory,
                                                         tmp_path: Path) -> None:
    store.ensure_container(container)
    store.create_page_blob(container, "bare.vhd", sparse_image.stat().st_size)
    with pytest.raises(StorageError, match="records no sparse digest") as caught:
        verify_blob(store, container, "bare.vhd")
    assert caught.value.hint == "pass --against IMAGE, the image it was uploaded from"
    other = image_factory(tmp_path / "small.vhd", 8, [(0, b"\x01" * 512)])
    upload_page_blob(sparse_image, store, container, "disk.vhd")
    wrong_size = verify_blob(store, container, "disk.vhd", against=other)
    assert not wrong_size.ok and not wrong_size.size_ok and "size differs" in (wrong_size.problem() or "")


def test_a_run_that_stopped_before_its_read_back_was_done_makes_the_next_one_read_back(
    store, container, sparse_image: Path
) -> None:
    """Killed after recording the digest but before verify marked what differs: no later run may
    call the blob complete without reading it back, asked to or not."""
    upload_page_blob(sparse_image, corrupting(store), container, "disk.vhd")
    props = store.get_properties(container, "disk.vhd")  # as a run killed mid-verify leaves it
    store.set_metadata(container, "disk.vhd", {**props.metadata, "shipyard_upload": "in_progress"})
    with pytest.raises(VerifyFailed) as caught:
        upload_page_blob(sparse_image, store, container, "disk.vhd")  # no verify=True
    assert caught.value.ranges == [RUN]
    assert not is_upload_complete(store.get_properties(container, "disk.vhd"))
    fixed = upload_page_blob(sparse_image, store, container, "disk.vhd")
    assert fixed.ranges_sent == 1 and fixed.verified is not None and fixed.verified.ok
    assert is_upload_complete(store.get_properties(container, "disk.vhd"))
