"""Range planning: zero detection, Put Page sizing, resume subtraction, data extents."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipyard.storage import ranges as rng

MIB = 1024 * 1024


@pytest.mark.parametrize(
    ("ranges", "expected"),
    [
        ([], []),
        ([(0, 512)], [(0, 512)]),
        ([(512, 1024), (0, 512)], [(0, 1024)]),
        ([(0, 1024), (512, 600)], [(0, 1024)]),
        ([(0, 512), (1024, 1536)], [(0, 512), (1024, 1536)]),
        ([(5, 5)], []),
    ],
)
def test_coalesce(ranges, expected) -> None:
    assert rng.coalesce_ranges(ranges) == expected


def test_split_keeps_put_pages_at_most_4_mib() -> None:
    assert rng.split_ranges([(0, 9 * MIB)]) == [
        (0, 4 * MIB),
        (4 * MIB, 8 * MIB),
        (8 * MIB, 9 * MIB),
    ]
    assert rng.split_ranges([(512, 1024)]) == [(512, 1024)]


@pytest.mark.parametrize(
    ("ranges", "present", "expected"),
    [
        ([(0, 4096)], [], [(0, 4096)]),
        ([(0, 4096)], [(0, 4096)], []),
        ([(0, 4096)], [(1024, 2048)], [(0, 1024), (2048, 4096)]),
        ([(0, 4096), (8192, 9216)], [(512, 8704)], [(0, 512), (8704, 9216)]),
        ([(1024, 2048)], [(0, 512), (4096, 8192)], [(1024, 2048)]),
        ([(0, 512), (1024, 1536)], [(0, 2048)], []),
    ],
)
def test_subtract(ranges, present, expected) -> None:
    assert rng.subtract_ranges(ranges, present) == expected


@given(
    st.lists(st.tuples(st.integers(0, 64), st.integers(1, 8)), max_size=12),
    st.lists(st.tuples(st.integers(0, 64), st.integers(1, 8)), max_size=12),
)
def test_subtract_matches_a_set_model(raw, raw_present) -> None:
    ranges = rng.coalesce_ranges((s * 512, (s + n) * 512) for s, n in raw)
    present = [(s * 512, (s + n) * 512) for s, n in raw_present]
    def pages(rs):
        return {p for s, e in rs for p in range(s, e, 512)}

    result = rng.subtract_ranges(ranges, present)
    assert pages(result) == pages(ranges) - pages(present)
    assert result == rng.coalesce_ranges(result)


def test_nonzero_pages_of_a_zero_buffer_is_empty() -> None:
    assert rng.find_nonzero_pages(bytes(4 * MIB)) == []


def test_nonzero_pages_all_data() -> None:
    assert rng.find_nonzero_pages(os.urandom(MIB), 4 * MIB) == [(4 * MIB, 5 * MIB)]


def test_nonzero_pages_are_512_aligned_and_exact() -> None:
    buf = bytearray(4 * MIB)
    buf[0] = 1  # page 0
    buf[1023] = 1  # page 1 (coalesces with 0)
    buf[70_000] = 7  # page at 69_632 in the second 64 KiB chunk
    buf[MIB : MIB + 3 * 512] = b"\xff" * 1536  # three pages
    buf[-1] = 1  # last page
    assert rng.find_nonzero_pages(bytes(buf), 8 * MIB) == [
        (8 * MIB, 8 * MIB + 1024),
        (8 * MIB + 69_632, 8 * MIB + 70_144),
        (9 * MIB, 9 * MIB + 1536),
        (12 * MIB - 512, 12 * MIB),
    ]


def test_nonzero_pages_with_zero_runs_that_are_not_page_aligned() -> None:
    # a 600-byte zero run straddling a page boundary covers no whole page: both pages are data
    buf = bytearray(b"\x01" * 2048)
    buf[400:1000] = bytes(600)
    assert rng.find_nonzero_pages(bytes(buf)) == [(0, 2048)]


@given(st.lists(st.integers(0, 256 * 1024 - 1), max_size=20))
def test_nonzero_pages_match_a_byte_loop(positions) -> None:
    buf = bytearray(256 * 1024)
    for p in positions:
        buf[p] = 0xAA
    expected = rng.coalesce_ranges((p - p % 512, p - p % 512 + 512) for p in positions)
    assert rng.find_nonzero_pages(bytes(buf)) == expected


def test_segments_cover_the_stream_in_order_and_cut_blocks_at_4_mib() -> None:
    segments = list(
        rng.iter_segments([(100, 3 * MIB), (3 * MIB + 4096, 9 * MIB)], 12 * MIB)
    )
    assert segments == [
        (0, 3 * MIB, True),  # 100 is widened down to its page
        (3 * MIB, 3 * MIB + 4096, False),
        (3 * MIB + 4096, 4 * MIB, True),
        (4 * MIB, 8 * MIB, True),
        (8 * MIB, 9 * MIB, True),
        (9 * MIB, 12 * MIB, False),
    ]
    covered = 0
    for start, end, is_data in segments:
        assert start == covered
        covered = end
        if is_data:
            assert end - start <= 4 * MIB and start // (4 * MIB) == (end - 1) // (
                4 * MIB
            )
    assert covered == 12 * MIB


def test_segments_of_a_hole_only_file() -> None:
    assert list(rng.iter_segments([], 4096)) == [(0, 4096, False)]


def test_data_extents_of_a_sparse_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    with open(path, "wb") as handle:
        os.truncate(handle.fileno(), 64 * MIB)
        handle.seek(8 * MIB)
        handle.write(b"x" * 4096)
    fd = os.open(path, os.O_RDONLY)
    try:
        extents = rng.find_data_extents(fd, 64 * MIB)
    finally:
        os.close(fd)
    assert sum(e - s for s, e in extents) < MIB  # the filesystem reports the hole
    assert any(s <= 8 * MIB < e for s, e in extents)


def test_plan_upload_ranges_of_a_sparse_image(sparse_image: Path) -> None:
    planned = rng.plan_upload_ranges(sparse_image)
    assert all(s % 512 == 0 and e % 512 == 0 and e - s <= 4 * MIB for s, e in planned)
    assert all(
        s // (4 * MIB) == (e - 1) // (4 * MIB) for s, e in planned
    )  # never across 4 MiB
    assert rng.coalesce_ranges(planned) == [
        (0, 1024),
        (4 * MIB - 1024, 4 * MIB + 1024),
        (10 * MIB + 4096, 10 * MIB + 4608),
        (20 * MIB + 512, 25 * MIB + 512),
        (40 * MIB, 40 * MIB + 512),
        (64 * MIB, 64 * MIB + 512),
    ]
    # resume: what the service already has is not planned again
    again = rng.plan_upload_ranges(sparse_image, present=[(0, 21 * MIB)])
    assert rng.coalesce_ranges(again)[0] == (21 * MIB, 25 * MIB + 512)


def test_caller_extents_replace_seek_data(sparse_image: Path) -> None:
    # a dynamic VHD's BAT says where the data is: nothing outside is read
    assert rng.plan_upload_ranges(sparse_image, extents=[(20 * MIB, 21 * MIB)]) == [
        (20 * MIB + 512, 21 * MIB)
    ]
