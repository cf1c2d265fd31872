"""Convert a raw disk or a dynamic (or misaligned, or badly footed fixed) VHD into an Azure-ready fixed VHD.

Only the source's allocated ranges are read, zero chunks are skipped, and the output is written
with seeks, so it stays as sparse as the data allows. The source is opened read-only.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from shipyard.errors import UsageError
from shipyard.image.vhd import MIB, DiskImage, make_fixed_footer
from shipyard.image.disk import open_disk

CHUNK_BYTES = 4 * MIB
ZERO_SKIP_BYTES = 64 * 1024  # all-zero pieces this size are left as holes
_ZEROS = bytes(ZERO_SKIP_BYTES)

Progress = Callable[[int, int], None]


def plan_copy_ranges(disk: DiskImage, chunk_bytes: int = CHUNK_BYTES) -> list[tuple[int, int]]:
    """(offset, length) chunks covering the disk's allocated ranges, none longer than ``chunk_bytes``."""
    chunks: list[tuple[int, int]] = []
    for start, length in disk.allocated_ranges():
        end = min(start + length, disk.size_bytes)
        while start < end:
            count = min(chunk_bytes - start % chunk_bytes, end - start)
            chunks.append((start, count))
            start += count
    return chunks


def write_non_zero(fd: int, data: bytes, offset: int) -> None:
    """``pwrite`` the data, leaving its all-zero ``ZERO_SKIP_BYTES`` pieces as holes."""
    view, start = memoryview(data), None
    for position in range(0, len(data) + ZERO_SKIP_BYTES, ZERO_SKIP_BYTES):
        piece = view[position : position + ZERO_SKIP_BYTES]
        zero = not piece or piece == _ZEROS[: len(piece)]
        if zero and start is not None:
            os.pwrite(fd, view[start:position], offset + start)
            start = None
        elif not zero and start is None:
            start = position


def check_destination(dst: Path, overwrite: bool) -> None:
    """Refuse a destination that exists (unless ``overwrite``) or that is not a regular file or a link.

    The output is written next to it as ``DST.partial`` and renamed over it at the end, so a
    device node or a FIFO given as the destination would be replaced, never written.
    """
    try:
        mode = os.lstat(dst).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        raise UsageError(f"{dst} is a directory", hint="give the path of the file to write")
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        raise UsageError(f"{dst} exists and is not a regular file", hint="give the path of a regular file to write")
    if not overwrite:
        raise UsageError(f"{dst} already exists", hint="pass --overwrite to replace it, or choose another destination")


def convert_image(src: str | Path, dst: str | Path, *, overwrite: bool = False, size_bytes: int | None = None,
                  progress: Progress | None = None) -> Path:
    """Write ``src`` (raw, dynamic or fixed VHD) as a fixed VHD at ``dst``, size rounded up to 1 MiB.

    ``size_bytes`` grows the virtual disk (zeros after the source's data; the partition table is
    left as it is); it may not be smaller than the source. A fixed VHD whose footer checksum is
    bad is repaired: its data is copied and a correct footer written. A truncated or damaged
    source is refused before anything is written. ``progress(bytes_done, bytes_total)`` counts
    the source's allocated bytes.
    """
    src, dst = Path(src), Path(dst)
    if dst.exists() and src.exists() and os.path.samefile(src, dst):
        raise UsageError("the destination is the source image", hint="write the fixed VHD to a new file")
    check_destination(dst, overwrite)
    with open_disk(src, allow_bad_checksum=True, dst_hint=dst) as disk:
        source_bytes = -(-disk.size_bytes // MIB) * MIB
        if size_bytes is not None and size_bytes < disk.size_bytes:
            raise UsageError(f"--size {size_bytes:,} bytes is smaller than {src.name}'s {disk.size_bytes:,} bytes",
                             hint="a conversion never cuts data off: give a larger size, or none")
        size_bytes = max(source_bytes, -(-(size_bytes or 0) // MIB) * MIB)
        chunks = plan_copy_ranges(disk)
        total = sum(length for _, length in chunks)
        done = 0
        partial = dst.with_name(dst.name + ".partial")
        partial.unlink(missing_ok=True)
        try:
            with open(partial, "wb") as out:
                out.truncate(size_bytes)
                for offset, length in chunks:
                    write_non_zero(out.fileno(), disk.read(offset, length), offset)
                    done += length
                    if progress:
                        progress(done, total)
                os.pwrite(out.fileno(), make_fixed_footer(size_bytes), size_bytes)
            os.replace(partial, dst)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    if progress and not chunks:
        progress(0, 0)
    return dst
