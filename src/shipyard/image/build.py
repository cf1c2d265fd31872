"""Build an Azure-ready fixed VHD from a root filesystem directory: no root, no mount.

Layout: partition table (MBR or GPT), a Linux partition holding an ext4 filesystem made by
``mkfs.ext4 -d ROOTFS -E offset=...`` straight into the output, then the VHD footer. On GPT,
as Debian's and Ubuntu's cloud images have them, optionally a 1 MiB BIOS boot partition (number
14, for GRUB on BIOS: Generation 1) and an EFI system partition (number 15, FAT made by
``build_esp`` from ROOTFS/boot/efi: Generation 2) come first, at 1 MiB; the root stays number 1.
The output stays sparse: only what the mkfs tools and mcopy write is allocated.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shipyard.errors import ShipyardError, UsageError
from shipyard.image import build_esp
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
BIOS_BOOT_BYTES = MIB
GPT_BIOS_BOOT_GUID = "21686148-6449-6e6f-744e-656564454649"
GPT_ESP_GUID = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
ROOT_NUMBER, BIOS_BOOT_NUMBER, ESP_NUMBER = 1, 14, 15  # as in Debian's and Ubuntu's cloud images

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


def make_gpt(disk_bytes: int, partitions: list[tuple[str, int, int, str]], disk_guid: uuid.UUID,
             numbers: list[int] | None = None) -> tuple[bytes, bytes, int]:
    """(head, tail, tail offset) of a GPT: protective MBR + primary header + entries; backup entries + header.

    ``partitions`` are (type GUID, first LBA, last LBA, name); ``numbers`` their partition
    numbers (entry index + 1), by default 1, 2, ...
    """
    sectors = disk_bytes // SECTOR_BYTES
    last_lba = sectors - 1
    first_usable, last_usable = 2 + GPT_ENTRIES_SECTORS, last_lba - 1 - GPT_ENTRIES_SECTORS
    entries = bytearray(GPT_ENTRY_COUNT * GPT_ENTRY_BYTES)
    for i, (type_guid, first, last, name) in zip(numbers or range(1, len(partitions) + 1), partitions, strict=True):
        struct.pack_into("<16s16sQQQ72s", entries, (i - 1) * GPT_ENTRY_BYTES, uuid.UUID(type_guid).bytes_le,
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


@dataclass(frozen=True)
class Planned:
    """One partition of the layout: its number, GPT type, LBA extent and name."""

    number: int
    type_guid: str
    first_lba: int
    last_lba: int
    name: str

    @property
    def start_bytes(self) -> int:
        return self.first_lba * SECTOR_BYTES

    @property
    def size_bytes(self) -> int:
        return (self.last_lba - self.first_lba + 1) * SECTOR_BYTES


def plan_partitions(disk_bytes: int, table: str, label: str, esp_bytes: int | None, bios_boot: bool
                    ) -> list[Planned]:
    """The partitions in disk order: BIOS boot, ESP (GPT only, when asked), then the root to the end."""
    sectors = disk_bytes // SECTOR_BYTES
    lba = PARTITION_START_BYTES // SECTOR_BYTES
    planned: list[Planned] = []
    for wanted, number, type_guid, name, size in (
            (bios_boot, BIOS_BOOT_NUMBER, GPT_BIOS_BOOT_GUID, "BIOS boot partition", BIOS_BOOT_BYTES),
            (esp_bytes is not None, ESP_NUMBER, GPT_ESP_GUID, "EFI System Partition", esp_bytes or 0)):
        if wanted:
            planned.append(Planned(number, type_guid, lba, lba + size // SECTOR_BYTES - 1, name))
            lba += size // SECTOR_BYTES
    last = sectors - 1 if table == "mbr" else sectors - 2 - GPT_ENTRIES_SECTORS
    if last - lba + 1 < MIB // SECTOR_BYTES:
        raise UsageError(f"--size {describe_bytes(disk_bytes)} leaves no room for the root filesystem after the "
                         f"{describe_bytes(lba * SECTOR_BYTES)} before it", hint="give a larger --size")
    return [*planned, Planned(ROOT_NUMBER, GPT_LINUX_GUID, lba, last, label)]


def _check_options(table: str, fs_uuid: str | None, esp_bytes: int | None, esp_label: str | None,
                   esp_uuid: str | None, bios_boot: bool) -> tuple[str | None, int | None, str | None]:
    """(root UUID, ESP size, FAT volume ID), checked; one ``UsageError`` line each."""
    if table not in ("mbr", "gpt"):
        raise UsageError(f"unknown partition table {table!r}", hint="use 'mbr' or 'gpt'")
    if fs_uuid is not None:
        try:
            fs_uuid = str(uuid.UUID(fs_uuid))
        except ValueError:
            raise UsageError(f"--uuid {fs_uuid!r} is not a UUID",
                             hint="give one such as 0b9e3bd8-6f8c-4a5e-9c3c-6c8b0f7a1e11") from None
    if table != "gpt" and (esp_bytes is not None or bios_boot):
        option = "--esp" if esp_bytes is not None else "--bios-boot"
        raise UsageError(f"{option} needs --table gpt", hint="Hyper-V Generation 2 boots only from GPT disks")
    if esp_bytes is None and (esp_label is not None or esp_uuid is not None):
        raise UsageError("--esp-label and --esp-uuid need --esp SIZE")
    if esp_bytes is not None and esp_bytes <= 0:
        raise UsageError(f"--esp {esp_bytes} bytes: the EFI system partition needs a size", hint="e.g. --esp 100M")
    if esp_label is not None:
        build_esp.check_label(esp_label)
    volume_id = build_esp.parse_volume_id(esp_uuid) if esp_uuid is not None else None
    return fs_uuid, (round_up_mib(esp_bytes) if esp_bytes is not None else None), volume_id


def build_image(rootfs_dir: str | Path, dst_vhd: str | Path, size_bytes: int | None = None, *, label: str = "rootfs",
                table: str = "mbr", overwrite: bool = False, progress: Progress | None = None,
                fs_uuid: str | None = None, esp_bytes: int | None = None, esp_label: str | None = None,
                esp_uuid: str | None = None, bios_boot: bool = False) -> Path:
    """Turn ``rootfs_dir`` into a fixed VHD at ``dst_vhd``; returns its path.

    ``size_bytes`` is the virtual disk size (rounded up to a whole MiB); by default the tree
    plus headroom. Either way it is at least 20 MiB, Azure's smallest managed disk: a smaller
    size is a ``UsageError``. ``table`` is "mbr" or "gpt". ``fs_uuid`` is the root
    filesystem's UUID (random by default). On GPT only: ``esp_bytes`` adds an EFI system
    partition of that size (rounded up to a MiB), filled from ROOTFS/boot/efi, which stays
    an empty directory in the root filesystem; ``esp_label`` and ``esp_uuid`` ("ABCD-1234")
    name its FAT; ``bios_boot`` adds a 1 MiB BIOS boot partition.
    """
    rootfs_dir, dst = Path(rootfs_dir), Path(dst_vhd)
    if not rootfs_dir.is_dir():
        raise UsageError(f"{rootfs_dir} is not a directory", hint="pass the root filesystem tree to build from")
    fs_uuid, esp_bytes, volume_id = _check_options(table, fs_uuid, esp_bytes, esp_label, esp_uuid, bios_boot)
    esp_entries = build_esp.esp_entries(rootfs_dir) if esp_bytes is not None else []
    check_destination(dst, overwrite)
    extra_bytes = (esp_bytes or 0) + (BIOS_BOOT_BYTES if bios_boot else 0)
    disk_bytes = round_up_mib(size_bytes) if size_bytes is not None else estimate_disk_bytes(rootfs_dir) + extra_bytes
    if disk_bytes < AZURE_MIN_DISK_BYTES:
        raise UsageError(f"--size {describe_bytes(disk_bytes)} is too small: Azure's smallest managed disk is "
                         f"{AZURE_MIN_DISK_BYTES // MIB} MiB", hint="use --size 20M or more, or leave --size out")
    *extras, root = plan_partitions(disk_bytes, table, label, esp_bytes, bios_boot)
    total = disk_bytes + 512
    mkfs = find_mkfs_ext4()
    debugfs = find_debugfs(mkfs) if esp_entries else ""
    if esp_bytes is not None:
        build_esp.find_tool("mkfs.fat", "dosfstools")
        if esp_entries:
            build_esp.find_tool("mcopy", "mtools")
    partial = dst.with_name(dst.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        with open(partial, "wb") as out:
            out.truncate(disk_bytes)
        _run_mkfs(mkfs, rootfs_dir, partial, root, label, fs_uuid)
        if progress:
            progress(disk_bytes // 2, total)
        for planned in extras:
            if planned.number == ESP_NUMBER:
                build_esp.make_esp(partial, planned.start_bytes, planned.size_bytes, esp_entries, label=esp_label,
                                   volume_id=volume_id)
        if esp_entries:
            build_esp.empty_mount_point(debugfs, partial, root.start_bytes, rootfs_dir)
            _check_mount_point_empty(partial, root)
        with open(partial, "r+b") as out:
            if table == "mbr":
                out.write(make_mbr([(0x83, root.first_lba, root.last_lba - root.first_lba + 1, True)],
                                   int.from_bytes(os.urandom(4), "little")))
            else:
                ordered = sorted([*extras, root], key=lambda p: p.number)
                head, tail, tail_offset = make_gpt(disk_bytes, [(p.type_guid, p.first_lba, p.last_lba, p.name)
                                                                for p in ordered], uuid.uuid4(),
                                                   [p.number for p in ordered])
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


def find_debugfs(mkfs: str) -> str:
    """e2fsprogs' debugfs, beside mkfs.ext4 or on the PATH."""
    beside = os.path.join(os.path.dirname(mkfs), "debugfs")
    found = beside if os.access(beside, os.X_OK) else shutil.which("debugfs")
    if not found:
        raise ShipyardError("debugfs was not found", hint="install e2fsprogs (apt-get install e2fsprogs)")
    return found


def _check_mount_point_empty(target: Path, root: Planned) -> None:
    from shipyard.image.device import FileDevice, RangeDevice
    from shipyard.image.fs.ext import ExtSource

    with FileDevice(target) as device:
        left = ExtSource(RangeDevice(device, root.start_bytes, root.size_bytes)).listdir("/" + build_esp.ESP_TREE)
    if left:
        raise ShipyardError(f"debugfs left {len(left)} entries in /{build_esp.ESP_TREE} of the root filesystem: "
                            f"{', '.join(left[:3])}", hint="check e2fsprogs' debugfs")


def _run_mkfs(mkfs: str, rootfs_dir: Path, target: Path, root: Planned, label: str, fs_uuid: str | None) -> None:
    command = [mkfs, "-F", "-q", "-t", "ext4", "-b", str(FS_BLOCK_BYTES), "-L", label[:16], "-d", str(rootfs_dir),
               "-E", f"offset={root.start_bytes},lazy_itable_init=1,lazy_journal_init=1"]
    if fs_uuid:
        command += ["-U", fs_uuid]
    command += [str(target), str(root.size_bytes // FS_BLOCK_BYTES)]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"})
    if result.returncode:
        lines = [line.strip() for line in (result.stderr or result.stdout).splitlines() if line.strip()]
        why = lines[-1] if lines else f"exit status {result.returncode}"
        raise ShipyardError(f"mkfs.ext4 failed: {why}",
                            hint="check that the tree fits the --size given and that e2fsprogs is 1.43 or later")
