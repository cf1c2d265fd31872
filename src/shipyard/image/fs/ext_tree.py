"""The whole-tree side of the ext reader (``ExtSource.walk_tree``/``iter_content``), where per-entry cost counts.

- ``parse_walked``: the few fields of an inode the walk needs, in one pass (a fifth of
  ``Inode.parse``'s cost), with mtime and atime in nanoseconds as the kernel decodes them (ext2py
  keeps float seconds). The tests check it against ``Inode.parse`` on every inode of their images.
- ``device_number``: a device inode's ``st_rdev``.
- ``file_data``: a file's bytes along ext2py's block runs, read straight from the device in chunks
  (ext2py's own ``iter_inode_data`` goes through its aligned reader and a file object).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

from ext2py.reader import Run

from shipyard.errors import ImageFormatError

NS = 1_000_000_000
_HEAD = struct.Struct("<H2xII4xI4x2xH4xI")  # i_mode, i_size_lo, i_atime, i_mtime, i_links_count, i_flags (0-36)
_SIZE_HIGH = struct.Struct("<I")  # i_size_high (108)
_EXTRA_ISIZE = struct.Struct("<H")  # i_extra_isize (128)
_TIMES_EXTRA = struct.Struct("<II")  # i_mtime_extra, i_atime_extra (0x88-0x90)
_TIMES_EXTRA_END = 0x90


class WalkedInode(NamedTuple):
    """What the walk needs of an inode, parsed in one pass: the fields ext2py's ``runs`` reads (``flags``,
    ``block``, ``size``) under ext2py's names, and mtime and atime in nanoseconds as the kernel decodes them
    (ext2py keeps float seconds). ``raw`` is the on-disk inode, for ``Inode.parse`` when more is needed."""

    ino: int
    mode: int
    size: int
    links_count: int
    flags: int
    block: bytes
    raw: bytes
    mtime_ns: int
    atime_ns: int


def _ns_time(low: int, extra: int | None) -> int:
    """The signed 32-bit seconds, plus (inodes over 128 bytes) the extra word's epoch bits and nanoseconds."""
    seconds = low - (1 << 32) if low & 0x80000000 else low
    if extra is None:
        return seconds * NS
    return (seconds + ((extra & 3) << 32)) * NS + min(extra >> 2, NS - 1)


def parse_walked(number: int, raw: bytes) -> WalkedInode:
    """The ``WalkedInode`` of inode ``number`` whose on-disk bytes are ``raw`` (128 bytes or more)."""
    mode, size_lo, atime, mtime, links, flags = _HEAD.unpack_from(raw, 0)
    mtime_extra = atime_extra = None
    if len(raw) >= _TIMES_EXTRA_END and 128 + _EXTRA_ISIZE.unpack_from(raw, 128)[0] >= _TIMES_EXTRA_END:
        mtime_extra, atime_extra = _TIMES_EXTRA.unpack_from(raw, 0x88)
    size = size_lo | (_SIZE_HIGH.unpack_from(raw, 108)[0] << 32)
    return WalkedInode(number, mode, size, links, flags, raw[40:100], raw, _ns_time(mtime, mtime_extra),
                       _ns_time(atime, atime_extra))


def device_number(block: bytes) -> int:
    """A device inode's number: the old 16-bit encoding in i_block[0], else the new one in i_block[1]."""
    old, new = struct.unpack_from("<II", block, 0)
    if old:
        return os.makedev((old >> 8) & 0xFF, old & 0xFF)
    return os.makedev((new & 0xFFF00) >> 8, (new & 0xFF) | ((new >> 12) & 0xFFF00))


def file_data(read: Callable[[int, int], bytes], runs: Sequence[Run], size_bytes: int, block_bytes: int,
              chunk_bytes: int, what: str) -> Iterator[bytes]:
    """``size_bytes`` of a file mapped by ``runs`` (sorted by logical block), holes and unwritten extents as
    zeros, in chunks of at most ``chunk_bytes``; ``read(offset, length)`` reads the device."""
    remaining, position = size_bytes, 0  # position: the next logical block
    for run in runs:
        if remaining <= 0:
            break
        if run.logical + run.length <= position:
            continue  # overlapping extents: corrupt, the overlap is ignored (as ext2py does)
        skip = max(0, position - run.logical)
        if run.logical > position:
            hole = min((run.logical - position) * block_bytes, remaining)
            yield from zeros(hole, chunk_bytes)
            remaining -= hole
        length = min((run.length - skip) * block_bytes, remaining)
        if run.uninit:
            yield from zeros(length, chunk_bytes)
        else:
            offset = (run.physical + skip) * block_bytes
            end = offset + length
            while offset < end:
                data = read(offset, min(chunk_bytes, end - offset))
                if not data:
                    raise ImageFormatError(f"ext filesystem: {what}: block {offset // block_bytes} lies past the end "
                                           "of the device", field="ext4")
                yield data
                offset += len(data)
        remaining -= length
        position = run.logical + run.length
    yield from zeros(remaining, chunk_bytes)


def zeros(length: int, chunk_bytes: int) -> Iterator[bytes]:
    while length > 0:
        part = min(length, chunk_bytes)
        yield bytes(part)
        length -= part
