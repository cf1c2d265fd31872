"""Open a disk image read-only: which container it is, and what cannot be read, refused in one line.

The image is a path or any ``BlockDevice`` (e.g. a page blob read in place, opened by the caller).
Of paths, only a regular file or a block device is opened (a FIFO, a socket or a character device
would block a reader forever); other formats, differencing VHDs, damaged footers and truncated
images raise ``ImageFormatError`` with a hint that leads to a command that works on that file (for
a device that is not a local file: on a downloaded copy of it).
"""

from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

from shipyard.errors import ImageFormatError
from shipyard.image.device import BlockDevice, CountedDevice, CountingDevice, FileDevice, device_name
from shipyard.image.partitions import declared_size_bytes
from shipyard.image.vhd import (
    DISK_TYPE_DIFFERENCING,
    DISK_TYPE_DYNAMIC,
    DISK_TYPE_FIXED,
    DYNAMIC_HEADER_BYTES,
    FOOTER_BYTES,
    FOOTER_COOKIE,
    SECTOR_BYTES,
    UNUSED_BAT_ENTRY,
    DiskImage,
    DynamicVhdImage,
    VhdFooter,
    calc_bitmap_bytes,
    calc_vhd_checksum,
    convert_command,
    detect_foreign_format,
    fixed_vhd_path,
    foreign_format_hint,
    has_raw_disk_signature,
    local_copy_hint,
    local_copy_path,
    parse_dynamic_header,
    parse_footer,
    truncated_message,
)


_FILE_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"))


def _refuse_unless_file_or_block_device(path: Path, mode: int) -> None:
    """Only a regular file or a block device holds an image; reading anything else may block forever."""
    if stat.S_ISREG(mode) or stat.S_ISBLK(mode):
        return
    if stat.S_ISDIR(mode):
        raise ImageFormatError(f"{path} is a directory, not a disk image",
                               hint="to make an image from a root filesystem tree, use `shipyard image build`")
    kind = next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")
    raise ImageFormatError(f"{path} is {kind}, not a disk image",
                           hint="give a regular file (or a block device) that holds the image")


def open_disk(source: str | Path | BlockDevice, *, allow_bad_checksum: bool = False,
              dst_hint: str | Path | None = None) -> DiskImage:
    """Open a fixed or dynamic VHD, or a raw disk image, read-only.

    ``source`` is a path (a regular file or a block device) or an open ``BlockDevice`` (the
    image then owns it: closing the image closes it). Other formats (VHDX, qcow2, VMDK, VDI,
    differencing VHD), damaged or truncated images, and paths that are not a regular file or a
    block device (a FIFO, a socket, a character device: refused before they are opened) raise
    ``ImageFormatError``. A bad footer checksum is refused unless ``allow_bad_checksum`` (then
    ``azure_problems`` reports it, and the data's length is taken from the file, not from the
    damaged footer). ``dst_hint`` is the fixed VHD that hints name as the converted file
    (default: ``fixed_vhd_path`` of the image's file, or of the file a device is downloaded to).
    """
    if not isinstance(source, str | Path):
        device = source if isinstance(source, CountedDevice) else CountingDevice(source)
        try:
            return _open_device(device, allow_bad_checksum, dst_hint)
        except BaseException:
            _close(device)
            raise
    path = Path(source)
    try:
        _refuse_unless_file_or_block_device(path, os.stat(path).st_mode)
        file = FileDevice(path)
    except FileNotFoundError:
        raise ImageFormatError(f"{path}: no such file") from None
    except OSError as exc:
        raise ImageFormatError(f"cannot open {path}: {exc.strerror or exc}") from None
    try:
        _refuse_unless_file_or_block_device(path, os.fstat(file.fileno()).st_mode)  # it may have changed
        return _open_device(file, allow_bad_checksum, dst_hint)
    except BaseException:
        file.close()
        raise


def _close(device: BlockDevice) -> None:
    close = getattr(device, "close", None)
    if close is not None:
        close()


@dataclass(frozen=True)
class _Source:
    """The device being opened, and how messages and hints name it."""

    device: CountedDevice
    name: str  # the path, or a blob's bare URI
    hint_path: Path  # the file that hints' commands name
    dst_hint: Path  # the fixed VHD they name as the converted file
    local: bool

    @property
    def size_bytes(self) -> int:
        return self.device.size_bytes

    def read(self, offset: int, length: int) -> bytes:
        return self.device.read(offset, length)

    def hint(self, text: str) -> str:
        return text if self.local else local_copy_hint(self.name, self.hint_path, text)

    @property
    def again(self) -> str:
        """How to get a whole image again, when this one is truncated."""
        return "copy or download the whole image again" if self.local else "upload the whole image again"


def _open_device(device: CountedDevice, allow_bad_checksum: bool, dst_hint: str | Path | None) -> DiskImage:
    name = device_name(device)
    local = isinstance(device, FileDevice)
    hint_path = device.path if isinstance(device, FileDevice) else local_copy_path(name)
    source = _Source(device, name, hint_path, Path(dst_hint) if dst_hint else fixed_vhd_path(hint_path), local)
    image = _open_file(source, allow_bad_checksum)
    _refuse_truncated_contents(image, source.again)
    return image


def _open_file(file: _Source, allow_bad_checksum: bool) -> DiskImage:
    size = file.size_bytes
    if size == 0:
        raise ImageFormatError(f"{file.name} is empty (0 bytes)", offset=0)
    head = file.read(0, 65608)
    foreign = detect_foreign_format(head)
    if foreign:
        raise ImageFormatError(f"not a VHD: this is {foreign}", field="format", offset=0,
                               hint=file.hint(foreign_format_hint(foreign, file.hint_path, file.dst_hint)))
    tail_offset = size - FOOTER_BYTES
    tail = file.read(tail_offset, FOOTER_BYTES) if size >= FOOTER_BYTES else b""
    if tail[:8] != FOOTER_COOKIE:
        if head[:8] == FOOTER_COOKIE:
            raise _truncated_dynamic(file, head)
        if has_raw_disk_signature(head):
            return DiskImage(file.device, "raw", None, size)
        raise ImageFormatError(
            f"not a disk image: no VHD footer, partition table or known filesystem ({size} bytes)", field="format",
            offset=0, hint="expected a fixed VHD (or a raw disk) with an MBR or GPT partition table")
    footer = parse_footer(tail, tail_offset)
    if not footer.checksum_valid and not allow_bad_checksum:
        raise ImageFormatError(
            f"VHD footer checksum is 0x{footer.checksum:08x}, but its contents sum to "
            f"0x{calc_vhd_checksum(tail, 64):08x}", field="checksum", offset=tail_offset + 64,
            hint=file.hint(f"the footer is damaged or was edited; `{convert_command(file.hint_path, file.dst_hint)}` "
                           "copies the data and writes a correct footer"))
    if footer.disk_type == DISK_TYPE_DIFFERENCING:
        raise ImageFormatError("differencing VHDs are not supported: the data lives partly in a parent disk",
                               field="disk_type", offset=tail_offset + 60,
                               hint=file.hint("merge it into its parent first (e.g. Hyper-V's Merge-VHD), then "
                                              f"`{convert_command(file.hint_path, file.dst_hint)}`"))
    if footer.disk_type == DISK_TYPE_FIXED:
        if not footer.checksum_valid:  # a damaged footer's size is no evidence: the file's length is
            return DiskImage(file.device, "vhd-fixed", footer, tail_offset)
        if footer.current_size_bytes > tail_offset:
            raise ImageFormatError(truncated_message(file.name, "the footer", footer.current_size_bytes, "file",
                                                     tail_offset),
                                   field="current_size", offset=tail_offset + 48, hint=file.again)
        return DiskImage(file.device, "vhd-fixed", footer, footer.current_size_bytes)
    return _open_dynamic(file, footer, tail_offset)


def _truncated_dynamic(file: _Source, head: bytes) -> ImageFormatError:
    """A footer copy at offset 0 and none at the end: a dynamic VHD cut short. How short, if its BAT says."""
    what = "truncated VHD: a footer copy is at offset 0 but the end of the file has no footer"
    error = ImageFormatError(what, field="footer", offset=max(0, file.size_bytes - FOOTER_BYTES), hint=file.again)
    try:
        footer = parse_footer(head[:FOOTER_BYTES])
        if footer.disk_type != DISK_TYPE_DYNAMIC or not footer.checksum_valid:
            return error
        header = parse_dynamic_header(file.read(footer.data_offset, DYNAMIC_HEADER_BYTES), footer.data_offset)
    except ImageFormatError:
        return error
    entries = header.max_table_entries
    raw = file.read(header.table_offset, entries * 4)
    if len(raw) < entries * 4:
        return error
    block_bytes = calc_bitmap_bytes(header.block_size_bytes) + header.block_size_bytes
    data_end = max([header.table_offset + entries * 4]
                   + [s * SECTOR_BYTES + block_bytes for s in struct.unpack(f">{entries}I", raw)
                      if s != UNUSED_BAT_ENTRY])
    expected = data_end + FOOTER_BYTES  # the blocks, then the footer
    if expected <= file.size_bytes:
        return error
    return ImageFormatError(
        truncated_message(file.name, "its BAT", expected, "file", file.size_bytes),
        field="footer", offset=file.size_bytes, hint=file.again)


def _open_dynamic(file: _Source, footer: VhdFooter, tail_offset: int) -> DynamicVhdImage:
    if footer.data_offset + DYNAMIC_HEADER_BYTES > tail_offset:
        raise ImageFormatError(f"dynamic VHD header offset {footer.data_offset} lies past the end of the data",
                               field="data_offset", offset=tail_offset + 16)
    header = parse_dynamic_header(file.read(footer.data_offset, DYNAMIC_HEADER_BYTES), footer.data_offset)
    needed = -(-footer.current_size_bytes // header.block_size_bytes)
    if header.max_table_entries < needed:
        raise ImageFormatError(
            f"dynamic VHD BAT has {header.max_table_entries} entries, but a {footer.current_size_bytes}-byte disk "
            f"needs {needed}", field="dynamic_header.max_table_entries", offset=footer.data_offset + 28)
    bat_bytes = header.max_table_entries * 4
    if header.table_offset + bat_bytes > tail_offset:
        raise ImageFormatError(f"dynamic VHD BAT at {header.table_offset} ({bat_bytes} bytes) runs past the end "
                               "of the file", field="dynamic_header.table_offset", offset=footer.data_offset + 16)
    raw = file.read(header.table_offset, bat_bytes)
    bat = list(struct.unpack(f">{header.max_table_entries}I", raw))[:needed]
    image = DynamicVhdImage(file.device, footer, header, bat)
    block_bytes = image._bitmap_bytes + header.block_size_bytes
    past = [(index, sector) for index, sector in enumerate(bat)
            if sector != UNUSED_BAT_ENTRY and sector * SECTOR_BYTES + block_bytes > tail_offset]
    if past:
        index, sector = past[0]
        data_end = max(sector * SECTOR_BYTES + block_bytes for _, sector in past)
        raise ImageFormatError(
            f"{Path(file.name).name} is truncated or its BAT is damaged: dynamic VHD BAT entry {index} points to sector "
            f"{sector}, past the end of the file (the blocks end at byte {data_end:,}, the data before the footer "
            f"ends at byte {tail_offset:,}: {data_end - tail_offset:,} bytes missing)",
            field="bat", offset=header.table_offset + 4 * index, hint=file.again)
    return image


def _refuse_truncated_contents(image: DiskImage, again: str) -> None:
    """A disk shorter than its own partition table (or whole-disk filesystem) says is truncated.

    This is what finds a fixed VHD that lost its end, footer and all: it reads as a raw disk.
    """
    declared = declared_size_bytes(image)
    if declared is not None and declared[0] > image.size_bytes:
        expected, what = declared
        holds = "file" if image.format == "raw" else "virtual disk"
        raise ImageFormatError(truncated_message(image.name, what, expected, holds, image.size_bytes),
                               field="size", offset=image.size_bytes, hint=again)
