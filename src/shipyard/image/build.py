"""Build an Azure-ready fixed VHD from a root filesystem directory: no root, no mount.

Layout: partition table (MBR or GPT), one Linux partition at 1 MiB holding an ext4 filesystem
made by ``mkfs.ext4 -d ROOTFS -E offset=...`` straight into the output, then the VHD footer.
The output stays sparse: only what mkfs writes is allocated.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import uuid
import zlib
from collections.abc import Callable
from pathlib import Path

from shipyard.errors import ShipyardError, UsageError
from shipyard.image.convert import check_destination
from shipyard.image.partitions import GPT_LINUX_GUID
from shipyard.image.vhd import MIB, SECTOR_BYTES, UPLOAD_MIN_BYTES, describe_bytes, make_fixed_footer

PARTITION_START_BYTES = MIB
FS_BLOCK_BYTES = 4096
GPT_ENTRY_COUNT = 128
GPT_ENTRY_BYTES = 128
GPT_ENTRIES_SECTORS = GPT_ENTRY_COUNT * GPT_ENTRY_BYTES // SECTOR_BYTES  # 32
AZURE_MIN_DISK_BYTES = UPLOAD_MIN_BYTES - 512  # 20 MiB: the smallest disk Azure takes (the floor of every build)
MKFS_PATHS = ("/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4")

Progress = Callable[[int, int], None]


def round_up_mib(size_bytes: int) -> int:
    return -(-size_bytes // MIB) * MIB


def estimate_disk_bytes(rootfs_dir: Path) -> int:
    """A disk size that fits the tree in ext4 with headroom, rounded up to MiB (at least 20 MiB)."""
    data_bytes, entries = 0, 0
    for top, dirs, files in os.walk(rootfs_dir):
        for name in dirs + files:
            entries += 1
            try:
                stat = os.lstat(os.path.join(top, name))
            except OSError:
                continue
            data_bytes += -(-stat.st_size // FS_BLOCK_BYTES) * FS_BLOCK_BYTES
    fs_bytes = int(data_bytes * 1.25) + entries * FS_BLOCK_BYTES + 16 * MIB  # journal, tables, slack
    fs_bytes = max(fs_bytes, entries * 24576)  # room for enough inodes at mke2fs' default ratio
    return max(AZURE_MIN_DISK_BYTES, round_up_mib(fs_bytes + PARTITION_START_BYTES + MIB))


def find_mkfs_ext4() -> str:
    found = shutil.which("mkfs.ext4") or next((p for p in MKFS_PATHS if os.access(p, os.X_OK)), None)
    if not found:
        raise ShipyardError("mkfs.ext4 was not found", hint="install e2fsprogs (1.43 or later, for `mkfs.ext4 -d`)")
    return found


def _lba_to_chs(lba: int) -> bytes:
    """MBR's 3-byte CHS address for 255 heads and 63 sectors, clamped at 1023/254/63."""
    cylinder, rest = divmod(lba, 255 * 63)
    head, sector = divmod(rest, 63)
    if cylinder > 1023:
        cylinder, head, sector = 1023, 254, 62
    return bytes((head, ((sector + 1) & 0x3F) | ((cylinder >> 2) & 0xC0), cylinder & 0xFF))


def make_mbr(entries: list[tuple[int, int, int, bool]], disk_signature: int) -> bytes:
    """A 512-byte MBR; ``entries`` are (type byte, first LBA, sector count, bootable)."""
    sector = bytearray(SECTOR_BYTES)
    struct.pack_into("<I", sector, 440, disk_signature)
    for i, (type_byte, lba, count, bootable) in enumerate(entries):
        sector[446 + 16 * i : 462 + 16 * i] = (
            bytes((0x80 if bootable else 0,)) + _lba_to_chs(lba) + bytes((type_byte,))
            + _lba_to_chs(lba + count - 1) + struct.pack("<II", lba, count))
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


def make_gpt(disk_bytes: int, partitions: list[tuple[str, int, int, str]], disk_guid: uuid.UUID
             ) -> tuple[bytes, bytes, int]:
    """(head, tail, tail offset) of a GPT: protective MBR + primary header + entries; backup entries + header.

    ``partitions`` are (type GUID, first LBA, last LBA, name).
    """
    sectors = disk_bytes // SECTOR_BYTES
    last_lba = sectors - 1
    first_usable, last_usable = 2 + GPT_ENTRIES_SECTORS, last_lba - 1 - GPT_ENTRIES_SECTORS
    entries = bytearray(GPT_ENTRY_COUNT * GPT_ENTRY_BYTES)
    for i, (type_guid, first, last, name) in enumerate(partitions):
        struct.pack_into("<16s16sQQQ72s", entries, i * GPT_ENTRY_BYTES, uuid.UUID(type_guid).bytes_le,
                         uuid.uuid4().bytes_le, first, last, 0, name.encode("utf-16-le")[:72])
    entries_crc = zlib.crc32(entries)

    def header(my_lba: int, alternate_lba: int, entries_lba: int) -> bytes:
        raw = bytearray(struct.pack("<8sIIIIQQQQ16sQIII", b"EFI PART", 0x00010000, 92, 0, 0, my_lba, alternate_lba,
                                    first_usable, last_usable, disk_guid.bytes_le, entries_lba, GPT_ENTRY_COUNT,
                                    GPT_ENTRY_BYTES, entries_crc))
        struct.pack_into("<I", raw, 16, zlib.crc32(raw))
        return bytes(raw) + bytes(SECTOR_BYTES - len(raw))

    protective = make_mbr([(0xEE, 1, min(sectors - 1, 0xFFFFFFFF), False)], 0)
    head = protective + header(1, last_lba, 2) + bytes(entries)
    tail = bytes(entries) + header(last_lba, 1, last_lba - GPT_ENTRIES_SECTORS)
    return head, tail, (last_lba - GPT_ENTRIES_SECTORS) * SECTOR_BYTES


def build_image(rootfs_dir: str | Path, dst_vhd: str | Path, size_bytes: int | None = None, *, label: str = "rootfs",
                table: str = "mbr", overwrite: bool = False, progress: Progress | None = None,
                fs_uuid: str | None = None) -> Path:
    """Turn ``rootfs_dir`` into a fixed VHD at ``dst_vhd``; returns its path.

    ``size_bytes`` is the virtual disk size (rounded up to a whole MiB); by default the tree
    plus headroom. Either way it is at least 20 MiB, Azure's smallest managed disk: a smaller
    size is a ``UsageError``. ``table`` is "mbr" or "gpt".
    """
    rootfs_dir, dst = Path(rootfs_dir), Path(dst_vhd)
    if not rootfs_dir.is_dir():
        raise UsageError(f"{rootfs_dir} is not a directory", hint="pass the root filesystem tree to build from")
    if table not in ("mbr", "gpt"):
        raise UsageError(f"unknown partition table {table!r}", hint="use 'mbr' or 'gpt'")
    check_destination(dst, overwrite)
    disk_bytes = round_up_mib(size_bytes) if size_bytes is not None else estimate_disk_bytes(rootfs_dir)
    if disk_bytes < AZURE_MIN_DISK_BYTES:
        raise UsageError(f"--size {describe_bytes(disk_bytes)} is too small: Azure's smallest managed disk is "
                         f"{AZURE_MIN_DISK_BYTES // MIB} MiB", hint="use --size 20M or more, or leave --size out")
    sectors = disk_bytes // SECTOR_BYTES
    first_lba = PARTITION_START_BYTES // SECTOR_BYTES
    last_lba = sectors - 1 if table == "mbr" else sectors - 2 - GPT_ENTRIES_SECTORS
    fs_blocks = (last_lba - first_lba + 1) * SECTOR_BYTES // FS_BLOCK_BYTES
    total = disk_bytes + 512
    mkfs = find_mkfs_ext4()
    partial = dst.with_name(dst.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        with open(partial, "wb") as out:
            out.truncate(disk_bytes)
        _run_mkfs(mkfs, rootfs_dir, partial, fs_blocks, label, fs_uuid)
        if progress:
            progress(disk_bytes // 2, total)
        with open(partial, "r+b") as out:
            if table == "mbr":
                out.write(make_mbr([(0x83, first_lba, last_lba - first_lba + 1, True)],
                                   int.from_bytes(os.urandom(4), "little")))
            else:
                head, tail, tail_offset = make_gpt(disk_bytes, [(GPT_LINUX_GUID, first_lba, last_lba, label)],
                                                   uuid.uuid4())
                out.write(head)
                out.seek(tail_offset)
                out.write(tail)
            out.seek(disk_bytes)
            out.write(make_fixed_footer(disk_bytes))
        os.replace(partial, dst)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if progress:
        progress(total, total)
    return dst


def _run_mkfs(mkfs: str, rootfs_dir: Path, target: Path, fs_blocks: int, label: str, fs_uuid: str | None) -> None:
    command = [mkfs, "-F", "-q", "-t", "ext4", "-b", str(FS_BLOCK_BYTES), "-L", label[:16], "-d", str(rootfs_dir),
               "-E", f"offset={PARTITION_START_BYTES},lazy_itable_init=1,lazy_journal_init=1"]
    if fs_uuid:
        command += ["-U", fs_uuid]
    command += [str(target), str(fs_blocks)]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"})
    if result.returncode:
        lines = [line.strip() for line in (result.stderr or result.stdout).splitlines() if line.strip()]
        why = lines[-1] if lines else f"exit status {result.returncode}"
        raise ShipyardError(f"mkfs.ext4 failed: {why}",
                            hint="check that the tree fits the --size given and that e2fsprogs is 1.43 or later")
