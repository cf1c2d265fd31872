"""Upload range planning: where the data is, which pages are non-zero, and what to send.

Pure functions over half-open ``(start, end)`` byte ranges, plus :func:`find_data_extents`, the
one that asks the filesystem (``SEEK_DATA``/``SEEK_HOLE``) where a file's data lies.

- :func:`find_data_extents`: the file's allocated extents (holes read as zeros).
- :func:`iter_segments`: the whole stream in order, as holes and data blocks of at most 4 MiB
  on 4 MiB boundaries (so one block never yields a Put Page over the limit).
- :func:`find_nonzero_pages`: the non-zero 512-byte pages of a buffer, without a Python loop
  over bytes (``bytes.startswith``/``bytes.find`` against a zero buffer run at memcmp speed).
- :func:`split_ranges`, :func:`coalesce_ranges`, :func:`subtract_ranges`: Put Page sizing and
  resume ("send only what the service does not have yet").
"""

from __future__ import annotations

import bisect
import errno
import os
from collections.abc import Iterable, Iterator, Sequence

PAGE_BYTES = 512
MAX_PUT_PAGE_BYTES = (
    4 * 1024 * 1024
)  # Azure's limit for one Put Page (Azurite does not enforce it)
BLOCK_BYTES = MAX_PUT_PAGE_BYTES  # read unit of the upload pass
_SUB_BYTES = 64 * 1024  # zero test granularity inside a block

_ZERO_PAGE = bytes(PAGE_BYTES)
_ZERO_SUB = bytes(_SUB_BYTES)

Range = tuple[int, int]


def align_down(value: int, unit: int = PAGE_BYTES) -> int:
    return value - value % unit


def align_up(value: int, unit: int = PAGE_BYTES) -> int:
    return -(-value // unit) * unit


def coalesce_ranges(ranges: Iterable[Range]) -> list[Range]:
    """Sorted, with overlapping and touching ranges merged; empty ranges dropped."""
    out: list[Range] = []
    for start, end in sorted(r for r in ranges if r[1] > r[0]):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def align_ranges(
    ranges: Iterable[Range], size_bytes: int, unit: int = PAGE_BYTES
) -> list[Range]:
    """Each range widened to ``unit`` boundaries (clipped to ``size_bytes``), then coalesced."""
    return coalesce_ranges(
        (align_down(s, unit), min(align_up(e, unit), size_bytes)) for s, e in ranges
    )


def split_ranges(
    ranges: Iterable[Range], max_bytes: int = MAX_PUT_PAGE_BYTES
) -> list[Range]:
    """Cut ranges into pieces of at most ``max_bytes`` (which must be a multiple of 512)."""
    out: list[Range] = []
    for start, end in ranges:
        while end - start > max_bytes:
            out.append((start, start + max_bytes))
            start += max_bytes
        if end > start:
            out.append((start, end))
    return out


def subtract_ranges(ranges: Iterable[Range], present: Iterable[Range]) -> list[Range]:
    """The parts of ``ranges`` not covered by ``present`` (both any order; result sorted)."""
    return subtract_coalesced(sorted(ranges), coalesce_ranges(present))


def subtract_coalesced(ranges: Sequence[Range], have: Sequence[Range]) -> list[Range]:
    """:func:`subtract_ranges` for sorted ``ranges`` and coalesced ``have`` (bisects ``have``)."""
    out: list[Range] = []
    for start, end in ranges:
        cursor = start
        k = bisect.bisect_right(have, (start, start)) - 1
        for p_start, p_end in have[max(k, 0) :]:
            if p_end <= cursor:
                continue
            if p_start >= end:
                break
            if p_start > cursor:
                out.append((cursor, p_start))
            cursor = max(cursor, p_end)
            if cursor >= end:
                break
        if cursor < end:
            out.append((cursor, end))
    return out


def total_bytes(ranges: Iterable[Range]) -> int:
    return sum(end - start for start, end in ranges)


def find_nonzero_pages(
    buf: bytes | bytearray, base: int = 0, page: int = PAGE_BYTES
) -> list[Range]:
    """Non-zero ``page``-sized pages of ``buf`` as coalesced ranges, offset by ``base``.

    A trailing partial page counts as a page. ``buf`` must be ``bytes`` or ``bytearray``:
    their ``startswith``/``find`` compare at C speed (a ``memoryview`` compares slowly).
    """
    zero_page = _ZERO_PAGE if page == PAGE_BYTES else bytes(page)
    n = len(buf)
    pages: list[Range] = []
    for i in range(0, n, _SUB_BYTES):
        j = min(i + _SUB_BYTES, n)
        if buf.startswith(_ZERO_SUB if j - i == _SUB_BYTES else bytes(j - i), i):
            continue
        if buf.find(zero_page, i, j) == -1:
            pages.append(
                (i, j)
            )  # no zero run of a page's length: every page here has data
            continue
        for p in range(i, j, page):
            q = min(p + page, j)
            if not buf.startswith(zero_page if q - p == page else bytes(q - p), p):
                pages.append((p, q))
    return [(base + s, base + e) for s, e in coalesce_ranges(pages)]


def find_data_extents(fd: int, size_bytes: int) -> list[Range]:
    """The file's data extents from ``SEEK_DATA``/``SEEK_HOLE``; all of it where unsupported."""
    seek_data = getattr(os, "SEEK_DATA", None)
    seek_hole = getattr(os, "SEEK_HOLE", None)
    if seek_data is None or seek_hole is None:
        return [(0, size_bytes)] if size_bytes else []
    extents: list[Range] = []
    offset = 0
    try:
        while offset < size_bytes:
            try:
                start = os.lseek(fd, offset, seek_data)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # no data after offset
                    break
                raise
            if start >= size_bytes:
                break
            end = min(os.lseek(fd, start, seek_hole), size_bytes)
            extents.append((start, end))
            offset = end
    except OSError as exc:
        if exc.errno in (errno.EINVAL, errno.EOPNOTSUPP):
            return [(0, size_bytes)] if size_bytes else []
        raise
    return extents


def iter_segments(
    extents: Sequence[Range],
    size_bytes: int,
    block: int = BLOCK_BYTES,
    *,
    hole_block: int | None = None,
) -> Iterator[tuple[int, int, bool]]:
    """Cover ``[0, size_bytes)`` in order as ``(start, end, is_data)``.

    Data segments are the page-aligned ``extents`` cut at ``block`` boundaries; everything else
    is a hole (zeros, never read). Holes are cut at ``hole_block`` boundaries when given.
    """

    def holes(start: int, end: int) -> Iterator[tuple[int, int, bool]]:
        while hole_block and end - start > hole_block:
            yield start, start + hole_block, False
            start += hole_block
        if end > start:
            yield start, end, False

    cursor = 0
    for start, end in align_ranges(extents, size_bytes):
        if start > cursor:
            yield from holes(cursor, start)
        pos = start
        while pos < end:
            nxt = min(end, align_down(pos, block) + block)
            yield pos, nxt, True
            pos = nxt
        cursor = end
    if cursor < size_bytes:
        yield from holes(cursor, size_bytes)


def plan_upload_ranges(
    path: str | os.PathLike[str],
    *,
    extents: Sequence[Range] | None = None,
    present: Iterable[Range] = (),
    block: int = BLOCK_BYTES,
) -> list[Range]:
    """The Put Page ranges for a file, without sending anything (reads only its data extents).

    The upload does the same planning inline, in the same pass as hashing and sending; this
    stand-alone form serves tests, dry runs and verification.
    """
    have = coalesce_ranges(present)
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        found = find_data_extents(fd, size) if extents is None else list(extents)
        ranges: list[Range] = []
        for start, end, is_data in iter_segments(found, size, block):
            if is_data:
                ranges.extend(
                    block_put_ranges(os.pread(fd, end - start, start), start, have)
                )
    finally:
        os.close(fd)
    return ranges


def block_put_ranges(
    buf: bytes | bytearray, base: int, have: Sequence[Range] = ()
) -> list[Range]:
    """The Put Page ranges for one data block read at ``base``: its non-zero pages, less ``have``.

    A block never spans a 4 MiB boundary (see :func:`iter_segments`), so neither does a range.
    """
    pages = find_nonzero_pages(buf, base)
    return subtract_coalesced(pages, have) if have else pages


def check_page_blob_size(size_bytes: int) -> None:
    """A page blob's size must be a non-negative multiple of 512 bytes (both stores enforce it)."""
    from shipyard.errors import UsageError

    if size_bytes < 0 or size_bytes % PAGE_BYTES:
        raise UsageError(f"page blob size {size_bytes} is not a multiple of 512 bytes")


def check_page_write(offset: int, length: int) -> None:
    """One Put Page: 512-byte aligned and at most 4 MiB (Azurite accepts more; Azure does not)."""
    from shipyard.errors import StorageError

    if offset % PAGE_BYTES or length % PAGE_BYTES or length > MAX_PUT_PAGE_BYTES:
        raise StorageError(f"put pages at {offset} (+{length}): not 512-aligned or over 4 MiB")
