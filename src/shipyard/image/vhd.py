"""The VHD container (fixed and dynamic), and the other formats it recognises (``image.disk`` opens files).

Field names and byte offsets follow Microsoft's "Virtual Hard Disk Image Format Specification"
(footer: 512 bytes, big-endian; dynamic header: 1024 bytes at the footer's data offset).
"""

from __future__ import annotations

import errno
import os
import shlex
import struct
import time
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from shipyard.errors import ImageFormatError
from shipyard.image.device import BlockDevice, CountedDevice, CountingDevice, FileDevice, device_name

SECTOR_BYTES = 512
MIB = 1 << 20
FOOTER_BYTES = 512
DYNAMIC_HEADER_BYTES = 1024
FOOTER_COOKIE = b"conectix"
DYNAMIC_COOKIE = b"cxsparse"
VHD_VERSION = 0x00010000
NO_DATA_OFFSET = 0xFFFFFFFFFFFFFFFF
UNUSED_BAT_ENTRY = 0xFFFFFFFF
VHD_EPOCH_S = 946684800  # 2000-01-01T00:00:00Z, the zero of the footer's timestamp
DISK_TYPE_FIXED, DISK_TYPE_DYNAMIC, DISK_TYPE_DIFFERENCING = 2, 3, 4

# Azure's limits (see shared/notes/azure-facts.md).
PAGE_BLOB_MAX_BYTES = 8 * (1 << 40)
UPLOAD_MIN_BYTES = 20_972_032  # 20 MiB + footer
UPLOAD_MAX_BYTES = 35_183_298_347_520  # 32 TiB + footer

CREATOR_APPLICATION = b"win "  # see make_fixed_footer


def fixed_vhd_path(src: str | Path) -> Path:
    """Where a hint suggests writing the fixed VHD made from ``src``: ``X.vhd``, or ``X-fixed.vhd``."""
    src = Path(src)
    return src.with_suffix(".vhd") if src.suffix.lower() != ".vhd" else src.with_name(src.stem + "-fixed.vhd")


def convert_command(src: str | Path, dst: str | Path | None = None, *extra: str) -> str:
    """The `shipyard image convert` command line for ``src`` (quoted for a POSIX shell)."""
    words = ["shipyard", "image", "convert", str(src), str(dst or fixed_vhd_path(src)), *extra]
    return shlex.join(words)


def local_copy_path(name: str) -> Path:
    """Where hints have a disk that is not a local file (a blob) downloaded to: its name's last segment."""
    return Path(PurePosixPath(name).name or "disk.vhd")


def local_copy_hint(name: str, copy: str | Path, hint: str) -> str:
    """``hint``, whose commands name the local file ``copy``, for the disk ``name`` that is not one."""
    return f"download {name} to {shlex.quote(str(copy))} first, then: {hint}"


def describe_bytes(count: int) -> str:
    """``64 MiB`` for a whole number of MiB, else ``1,234,567 bytes``."""
    return f"{count // MIB:,} MiB" if count % MIB == 0 else f"{count:,} bytes"


def truncated_message(path: str | Path, what: str, expected: int, holds: str, actual: int) -> str:
    """One line: what says how long the data is, how much is there, and how many bytes are missing."""
    return (f"{Path(path).name} is truncated: {what} says {describe_bytes(expected)} of data, the {holds} holds "
            f"{describe_bytes(actual)} ({expected - actual:,} bytes missing)")

_FOOTER = struct.Struct(">8sIIQI4sI4sQQHBBII16sB427s")
_DYNAMIC_HEADER = struct.Struct(">8sQQIIII16sI4s512s192s256s")


def calc_vhd_checksum(data: bytes, checksum_offset: int) -> int:
    """One's complement of the byte sum, with the 4-byte checksum field counted as zero."""
    total = sum(data) - sum(data[checksum_offset : checksum_offset + 4])
    return ~total & 0xFFFFFFFF


@dataclass(frozen=True)
class VhdFooter:
    cookie: bytes  # 0, 8 bytes: b"conectix"
    features: int  # 8
    file_format_version: int  # 12
    data_offset: int  # 16: the dynamic header's offset; all ones for a fixed disk
    timestamp: int  # 24: seconds since 2000-01-01 UTC
    creator_application: str  # 28
    creator_version: int  # 32
    creator_host_os: str  # 36
    original_size_bytes: int  # 40
    current_size_bytes: int  # 48: the virtual disk's size
    cylinders: int  # 56
    heads: int  # 58
    sectors_per_track: int  # 59
    disk_type: int  # 60: 2 fixed, 3 dynamic, 4 differencing
    checksum: int  # 64
    unique_id: uuid.UUID  # 68
    saved_state: int  # 84
    checksum_valid: bool  # computed, not on disk


def _text(raw: bytes) -> str:
    return raw.decode("latin-1").rstrip("\0 ") or ""


def parse_footer(raw: bytes, offset: int = 0) -> VhdFooter:
    """Parse 512 footer bytes; ``offset`` is where they lie in the file (for error messages)."""
    if len(raw) < FOOTER_BYTES:
        raise ImageFormatError(f"VHD footer is truncated: {len(raw)} of 512 bytes", field="footer", offset=offset)
    (cookie, features, version, data_offset, timestamp, app, app_version, host_os, original, current,
     cylinders, heads, sectors, disk_type, checksum, unique_id, saved_state, _) = _FOOTER.unpack(raw[:FOOTER_BYTES])
    if cookie != FOOTER_COOKIE:
        raise ImageFormatError(f"no VHD footer: cookie is {cookie!r}, not b'conectix'", field="cookie", offset=offset)
    if version >> 16 != 1:
        raise ImageFormatError(
            f"unsupported VHD file format version 0x{version:08x} (expected 0x00010000)",
            field="file_format_version", offset=offset + 12)
    if disk_type not in (DISK_TYPE_FIXED, DISK_TYPE_DYNAMIC, DISK_TYPE_DIFFERENCING):
        raise ImageFormatError(f"unknown VHD disk type {disk_type} (expected 2 fixed, 3 dynamic or 4 differencing)",
                               field="disk_type", offset=offset + 60)
    return VhdFooter(
        cookie, features, version, data_offset, timestamp, _text(app), app_version, _text(host_os), original,
        current, cylinders, heads, sectors, disk_type, checksum, uuid.UUID(bytes=unique_id), saved_state,
        checksum_valid=calc_vhd_checksum(raw[:FOOTER_BYTES], 64) == checksum)


def compute_chs_geometry(size_bytes: int) -> tuple[int, int, int]:
    """(cylinders, heads, sectors per track) by the VHD specification's algorithm."""
    total_sectors = min(size_bytes // SECTOR_BYTES, 65535 * 16 * 255)
    if total_sectors >= 65535 * 16 * 63:
        sectors, heads = 255, 16
        cylinder_times_heads = total_sectors // sectors
    else:
        sectors = 17
        cylinder_times_heads = total_sectors // sectors
        heads = max(4, (cylinder_times_heads + 1023) // 1024)
        if cylinder_times_heads >= heads * 1024 or heads > 16:
            sectors, heads = 31, 16
            cylinder_times_heads = total_sectors // sectors
        if cylinder_times_heads >= heads * 1024:
            sectors, heads = 63, 16
            cylinder_times_heads = total_sectors // sectors
    return cylinder_times_heads // heads, heads, sectors


def make_fixed_footer(size_bytes: int, *, creator_application: bytes = CREATOR_APPLICATION,
                      timestamp_s: float | None = None, unique_id: uuid.UUID | None = None) -> bytes:
    """The 512-byte footer of a fixed VHD whose data part is ``size_bytes`` long.

    The creator is "win " (as Hyper-V and Azure's tools write): qemu and VirtualBox then take the
    size from ``current_size``; for any other creator qemu uses the CHS geometry, which rounds a
    whole-MiB disk down and hides its last sectors (the GPT backup among them).
    """
    now = time.time() if timestamp_s is None else timestamp_s
    cylinders, heads, sectors = compute_chs_geometry(size_bytes)
    raw = _FOOTER.pack(
        FOOTER_COOKIE, 2, VHD_VERSION, NO_DATA_OFFSET, max(0, int(now) - VHD_EPOCH_S) & 0xFFFFFFFF,
        creator_application.ljust(4)[:4], 0x00010000, b"Wi2k", size_bytes, size_bytes, cylinders, heads, sectors,
        DISK_TYPE_FIXED, 0, (unique_id or uuid.uuid4()).bytes, 0, b"\0" * 427)
    return raw[:64] + struct.pack(">I", calc_vhd_checksum(raw, 64)) + raw[68:]


@dataclass(frozen=True)
class DynamicHeader:
    cookie: bytes  # 0: b"cxsparse"
    data_offset: int  # 8: unused, all ones
    table_offset: int  # 16: the BAT's absolute file offset
    header_version: int  # 24
    max_table_entries: int  # 28
    block_size_bytes: int  # 32
    checksum: int  # 36
    parent_unique_id: uuid.UUID  # 40
    parent_timestamp: int  # 56


def parse_dynamic_header(raw: bytes, offset: int = 0) -> DynamicHeader:
    """Parse and check the 1024-byte dynamic disk header found at ``offset``."""
    if len(raw) < DYNAMIC_HEADER_BYTES:
        raise ImageFormatError(f"dynamic VHD header is truncated: {len(raw)} of 1024 bytes",
                               field="dynamic_header", offset=offset)
    (cookie, data_offset, table_offset, version, entries, block_size, checksum, parent_id, parent_ts,
     *_rest) = _DYNAMIC_HEADER.unpack(raw[:DYNAMIC_HEADER_BYTES])
    if cookie != DYNAMIC_COOKIE:
        raise ImageFormatError(f"dynamic VHD header cookie is {cookie!r}, not b'cxsparse'",
                               field="dynamic_header.cookie", offset=offset)
    if calc_vhd_checksum(raw[:DYNAMIC_HEADER_BYTES], 36) != checksum:
        raise ImageFormatError("dynamic VHD header checksum does not match its contents",
                               field="dynamic_header.checksum", offset=offset + 36)
    if version >> 16 != 1:
        raise ImageFormatError(f"unsupported dynamic VHD header version 0x{version:08x}",
                               field="dynamic_header.header_version", offset=offset + 24)
    if block_size < SECTOR_BYTES or block_size & (block_size - 1):
        raise ImageFormatError(f"dynamic VHD block size {block_size} is not a power of two of at least 512 bytes",
                               field="dynamic_header.block_size", offset=offset + 32)
    return DynamicHeader(cookie, data_offset, table_offset, version, entries, block_size, checksum,
                         uuid.UUID(bytes=parent_id), parent_ts)


def calc_bitmap_bytes(block_size_bytes: int) -> int:
    """A dynamic block's sector bitmap size: one bit a sector, padded to a whole sector."""
    bitmap = -(-(block_size_bytes // SECTOR_BYTES) // 8)
    return -(-bitmap // SECTOR_BYTES) * SECTOR_BYTES


_FOREIGN_FORMATS = (
    (0, b"vhdxfile", "VHDX"),
    (0, b"QFI\xfb", "qcow2"),
    (0, b"KDMV", "VMDK"),
    (0, b"COWD", "VMDK"),
    (0, b"# Disk DescriptorFile", "VMDK"),
    (64, b"\x7f\x10\xda\xbe", "VDI"),
)
QEMU_FORMAT_NAMES = {"VHDX": "vhdx", "qcow2": "qcow2", "VMDK": "vmdk", "VDI": "vdi"}  # qemu-img's -f names


def detect_foreign_format(head: bytes) -> str | None:
    """The name of a disk format other than VHD/raw whose magic starts ``head``, else None."""
    for offset, magic, name in _FOREIGN_FORMATS:
        if head[offset : offset + len(magic)] == magic:
            return name
    return None


def foreign_format_hint(name: str, src: str | Path, dst: str | Path | None = None) -> str:
    """The command that turns a ``name`` image (VHDX, qcow2, VMDK, VDI) into a fixed VHD: qemu-img's."""
    dst = Path(dst) if dst is not None else fixed_vhd_path(src)
    command = shlex.join(["qemu-img", "convert", "-f", QEMU_FORMAT_NAMES[name], "-O", "vpc", "-o",
                          "subformat=fixed,force_size", str(src), str(dst)])
    return (f"shipyard does not read {name}; convert it with `{command}` (qemu-utils), "
            f"then run `shipyard image check {shlex.quote(str(dst))}`")


def has_raw_disk_signature(head: bytes) -> bool:
    """True for an MBR/GPT boot signature or an ext/XFS/btrfs superblock at offset 0."""
    return (head[510:512] == b"\x55\xaa" or head[1080:1082] == b"\x53\xef" or head[:4] == b"XFSB"
            or head[65600:65608] == b"_BHRfS_M" or b"LABELONE" in (head[0:8], head[512:520], head[1024:1032]))


class DiskImage:
    """A disk image opened read-only: the virtual disk's bytes, as a ``BlockDevice``.

    ``format`` is "vhd-fixed", "vhd-dynamic" or "raw"; ``footer`` is None for raw. ``file`` is
    the device that holds the image: a local file, or any ``BlockDevice`` (a blob read in place).
    ``name`` is what messages call it (the path, or the blob's bare URI); ``path`` is the local
    file (None when there is none); ``hint_path`` is the file that hints' commands name.
    """

    def __init__(self, file: BlockDevice, format: str, footer: VhdFooter | None, size_bytes: int) -> None:
        self.file: CountedDevice = file if isinstance(file, CountedDevice) else CountingDevice(file)
        self.name = device_name(file)
        self.path: Path | None = file.path if isinstance(file, FileDevice) else None
        self.hint_path = self.path if self.path is not None else local_copy_path(self.name)
        self.format = format
        self.footer = footer
        self.size_bytes = size_bytes
        self.file_size_bytes = file.size_bytes  # the device's: a block device's too (fstat says 0 there)
        self.dynamic_header: DynamicHeader | None = None

    @property
    def bytes_read(self) -> int:
        """Bytes read from the device (for a blob: downloaded)."""
        return self.file.bytes_read

    def hint(self, text: str) -> str:
        """A hint whose commands name ``hint_path``: as is for a local file, else on a downloaded copy."""
        return text if self.path is not None else local_copy_hint(self.name, self.hint_path, text)

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError("negative offset or length")
        return self.file.read(offset, max(0, min(length, self.size_bytes - offset)))

    def allocated_ranges(self) -> list[tuple[int, int]]:
        """(offset, length) pairs of the virtual disk that may hold data; holes read as zeros."""
        if isinstance(self.file, FileDevice):
            return _seek_data_ranges(self.file.fileno(), self.size_bytes)
        return [(0, self.size_bytes)] if self.size_bytes else []

    def close(self) -> None:
        close = getattr(self.file, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> DiskImage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _seek_data_ranges(fd: int, end: int) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    offset = 0
    try:
        while offset < end:
            try:
                start = os.lseek(fd, offset, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:
                    break
                raise
            if start >= end:
                break
            stop = min(os.lseek(fd, start, os.SEEK_HOLE), end)
            ranges.append((start, stop - start))
            offset = stop
    except (OSError, AttributeError):  # no SEEK_DATA here: everything may hold data
        return [(0, end)] if end else []
    return ranges


class DynamicVhdImage(DiskImage):
    """A dynamic VHD: blocks found through the BAT, each a sector bitmap then the block's data."""

    def __init__(self, file: BlockDevice, footer: VhdFooter, header: DynamicHeader, bat: list[int]) -> None:
        super().__init__(file, "vhd-dynamic", footer, footer.current_size_bytes)
        self.dynamic_header = header
        self.bat = bat
        self.block_size_bytes = header.block_size_bytes
        self._bitmap_bytes = calc_bitmap_bytes(header.block_size_bytes)

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError("negative offset or length")
        length = max(0, min(length, self.size_bytes - offset))
        out = bytearray()
        block = self.block_size_bytes
        while length > 0:
            index, within = divmod(offset, block)
            count = min(length, block - within)
            sector = self.bat[index]
            if sector == UNUSED_BAT_ENTRY:
                out += bytes(count)
            else:
                out += self._read_block(sector * SECTOR_BYTES, within, count)
            offset += count
            length -= count
        return bytes(out)

    def _read_block(self, block_offset: int, within: int, count: int) -> bytes:
        first, last = within // SECTOR_BYTES, (within + count - 1) // SECTOR_BYTES
        bitmap = self.file.read(block_offset + first // 8, last // 8 - first // 8 + 1)
        bits = [(bitmap[s // 8 - first // 8] >> (7 - s % 8)) & 1 for s in range(first, last + 1)]
        data = self.file.read(block_offset + self._bitmap_bytes + within, count)
        if all(bits):
            return data
        out = bytearray(data)
        base = first * SECTOR_BYTES - within
        for i, bit in enumerate(bits):
            if not bit:
                lo, hi = max(0, base + i * SECTOR_BYTES), min(count, base + (i + 1) * SECTOR_BYTES)
                out[lo:hi] = bytes(hi - lo)
        return bytes(out)

    def allocated_ranges(self) -> list[tuple[int, int]]:
        ranges: list[tuple[int, int]] = []
        for index, sector in enumerate(self.bat):
            start = index * self.block_size_bytes
            if sector == UNUSED_BAT_ENTRY or start >= self.size_bytes:
                continue
            length = min(self.block_size_bytes, self.size_bytes - start)
            if ranges and ranges[-1][0] + ranges[-1][1] == start:
                ranges[-1] = (ranges[-1][0], ranges[-1][1] + length)
            else:
                ranges.append((start, length))
        return ranges
