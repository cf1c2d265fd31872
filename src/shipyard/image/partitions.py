"""Partition tables: MBR (with extended/logical partitions) and GPT (CRC-checked), 512-byte sectors.

Each partition's identity is the one blkid reports: PARTUUID (the GPT partition GUID, or the
MBR disk signature and the partition number, "2f1e8c1a-01") and PARTLABEL (the GPT name).
The table keeps the MBR's disk signature (offset 440) and whether the MBR (a GPT's protective
one too) holds boot code in its first 440 bytes, as GRUB's boot.img puts there for BIOS boot.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass, field, replace

from shipyard.errors import ImageFormatError
from shipyard.image.device import BlockDevice, RangeDevice

SECTOR_BYTES = 512
GPT_SIGNATURE = b"EFI PART"
MBR_EXTENDED_TYPES = frozenset({0x05, 0x0F, 0x85})
MBR_PROTECTIVE_TYPE = 0xEE
MAX_LOGICAL_PARTITIONS = 128
MBR_BOOT_CODE_BYTES = 440
MBR_DISK_SIGNATURE_OFFSET = 440

MBR_TYPE_NAMES = {
    0x07: "microsoft-basic-data", 0x0B: "fat32", 0x0C: "fat32", 0x05: "extended", 0x0F: "extended",
    0x82: "swap", 0x83: "linux", 0x85: "extended", 0x8E: "lvm", 0xEE: "gpt-protective", 0xEF: "efi",
    0xFD: "linux-raid",
}
GPT_TYPE_NAMES = {
    "0fc63daf-8483-4772-8e79-3d69d8477de4": "linux",
    "4f68bce3-e8cd-4db1-96e7-fbcaf984b709": "linux-root-x86-64",
    "b921b045-1df0-41c3-af44-4c6f280d3fae": "linux-root-arm64",
    "933ac7e1-2eb4-4f13-b844-0e14e2aef915": "linux-home",
    "bc13c2ff-59e6-4262-a352-b275fd6f7172": "linux-extended-boot",
    "e6d6d379-f507-44c2-a23c-238f2a3df928": "lvm",
    "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f": "swap",
    "a19d880f-05fc-4d3b-a006-743f0f84911e": "linux-raid",
    "c12a7328-f81f-11d2-ba4b-00a0c93ec93b": "efi",
    "21686148-6449-6e6f-744e-656564454649": "bios-boot",
    "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7": "microsoft-basic-data",
    "e3c9e316-0b5c-4db8-817d-f92df00215ae": "microsoft-reserved",
    "de94bba4-06d1-4d40-a16a-bfd50179d6ac": "windows-recovery",
}
GPT_LINUX_GUID = "0fc63daf-8483-4772-8e79-3d69d8477de4"


@dataclass(frozen=True)
class Partition:
    """One partition: 1-based ``index`` (logical MBR partitions start at 5), byte extent and type.

    ``type_id`` is the MBR type byte ("0x83") or the GPT type GUID; ``type_name`` a friendly name.
    ``partuuid`` is blkid's PARTUUID: the GPT partition GUID (``guid``), or the MBR disk signature
    and the partition number in hex ("2f1e8c1a-05"); None on an MBR whose signature is zero.
    """

    index: int
    start_bytes: int
    size_bytes: int
    scheme: str  # "mbr", "gpt" or "none" (a whole-disk filesystem or PV)
    type_id: str
    type_name: str
    name: str = ""
    guid: str | None = None
    bootable: bool = False
    partuuid: str | None = None
    disk: BlockDevice | None = field(default=None, compare=False, repr=False)

    @property
    def partlabel(self) -> str | None:
        """blkid's PARTLABEL: the GPT partition name; None on MBR or when the name is empty."""
        return (self.name or None) if self.scheme == "gpt" else None

    def open_device(self) -> RangeDevice:
        """The partition's bytes as a ``BlockDevice``."""
        if self.disk is None:
            raise ValueError("partition has no disk attached")
        return RangeDevice(self.disk, self.start_bytes, self.size_bytes)


@dataclass(frozen=True)
class PartitionTable:
    scheme: str  # "mbr", "gpt" or "none"
    partitions: list[Partition]
    disk_guid: str | None = None
    disk_signature: int | None = None  # the MBR's 32-bit disk signature (offset 440); None on GPT and "none"
    mbr_boot_code: bool | None = None  # the MBR's first 440 bytes are not all zero; None without an MBR

    @property
    def ptuuid(self) -> str | None:
        """blkid's PTUUID: the GPT disk GUID, or the MBR disk signature as 8 hex digits (None when zero)."""
        if self.scheme == "gpt":
            return self.disk_guid
        return f"{self.disk_signature:08x}" if self.disk_signature else None


def mbr_partuuid(disk_signature: int, index: int) -> str | None:
    """An MBR partition's PARTUUID as blkid prints it, "2f1e8c1a-01"; None when the signature is zero."""
    return f"{disk_signature:08x}-{index:02x}" if disk_signature else None


def _check_extent(disk: BlockDevice, what: str, start: int, size: int, offset: int) -> None:
    if size <= 0:
        raise ImageFormatError(f"{what} is empty", field="partition", offset=offset)
    if start + size > disk.size_bytes:
        raise ImageFormatError(
            f"{what} ends at byte {start + size}, past the end of the {disk.size_bytes}-byte disk",
            field="partition", offset=offset, hint="the image is truncated or its partition table is damaged")


def probe_filesystem(device: BlockDevice) -> str | None:
    """The filesystem (or LVM PV) that starts at offset 0 of ``device``, by its magic, else None."""
    head = device.read(0, 4096)
    if head[1080:1082] == b"\x53\xef":
        return "ext"
    if head[:4] == b"XFSB":
        return "xfs"
    if any(head[s * SECTOR_BYTES : s * SECTOR_BYTES + 8] == b"LABELONE" for s in range(4)):
        return "lvm"
    if device.read(65600, 8) == b"_BHRfS_M":
        return "btrfs"
    if head[4086:4096] in (b"SWAPSPACE2", b"SWAP-SPACE"):
        return "swap"
    return None


def read_partition_table(disk: BlockDevice) -> PartitionTable:
    """Read the disk's MBR or GPT; a table-less disk with a filesystem at 0 is one whole-disk partition."""
    mbr = disk.read(0, SECTOR_BYTES)
    fs = probe_filesystem(disk)
    if mbr[510:512] != b"\x55\xaa" or fs in ("ext", "xfs"):
        if fs is None:
            raise ImageFormatError("no partition table (MBR or GPT) and no known filesystem at offset 0",
                                   field="mbr.signature", offset=510)
        type_name = {"lvm": "lvm", "swap": "swap"}.get(fs, "linux")
        return PartitionTable("none", [Partition(1, 0, disk.size_bytes, "none", fs, type_name, disk=disk)])
    entries = [_parse_mbr_entry(mbr, i) for i in range(4)]
    boot_code = any(mbr[:MBR_BOOT_CODE_BYTES])
    if any(e[1] == MBR_PROTECTIVE_TYPE for e in entries if e[3]):
        return replace(read_gpt(disk), mbr_boot_code=boot_code)
    signature = struct.unpack_from("<I", mbr, MBR_DISK_SIGNATURE_OFFSET)[0]
    partitions: list[Partition] = []
    for i, (status, type_byte, lba, sectors) in enumerate(entries):
        if not sectors or not type_byte:
            continue
        offset = 446 + 16 * i
        if status not in (0x00, 0x80):
            raise ImageFormatError(f"MBR partition {i + 1} has an invalid status byte 0x{status:02x}",
                                   field="mbr.status", offset=offset)
        start, size = lba * SECTOR_BYTES, sectors * SECTOR_BYTES
        _check_extent(disk, f"MBR partition {i + 1}", start, size, offset)
        if type_byte in MBR_EXTENDED_TYPES:
            partitions += _read_logical_partitions(disk, lba, sectors)
            continue
        partitions.append(Partition(i + 1, start, size, "mbr", f"0x{type_byte:02x}",
                                    MBR_TYPE_NAMES.get(type_byte, "unknown"), bootable=status == 0x80, disk=disk))
    partitions = [replace(p, partuuid=mbr_partuuid(signature, p.index)) for p in sorted(partitions,
                                                                                       key=lambda p: p.index)]
    return PartitionTable("mbr", partitions, disk_signature=signature, mbr_boot_code=boot_code)


def _parse_mbr_entry(sector: bytes, i: int) -> tuple[int, int, int, int]:
    """(status, type, first LBA, sector count) of entry ``i`` at offset 446 + 16 i."""
    raw = sector[446 + 16 * i : 462 + 16 * i]
    return raw[0], raw[4], struct.unpack_from("<I", raw, 8)[0], struct.unpack_from("<I", raw, 12)[0]


def _read_logical_partitions(disk: BlockDevice, extended_lba: int, extended_sectors: int) -> list[Partition]:
    """Walk the chain of extended boot records; logical partitions are numbered from 5."""
    partitions: list[Partition] = []
    ebr_lba, seen = extended_lba, set()
    while len(partitions) < MAX_LOGICAL_PARTITIONS:
        if ebr_lba in seen or not extended_lba <= ebr_lba < extended_lba + extended_sectors:
            raise ImageFormatError(f"extended partition chain loops or leaves the extended partition at LBA {ebr_lba}",
                                   field="ebr", offset=ebr_lba * SECTOR_BYTES)
        seen.add(ebr_lba)
        ebr = disk.read(ebr_lba * SECTOR_BYTES, SECTOR_BYTES)
        if ebr[510:512] != b"\x55\xaa":
            raise ImageFormatError("extended boot record has no 0x55AA signature", field="ebr.signature",
                                   offset=ebr_lba * SECTOR_BYTES + 510)
        status, type_byte, lba, sectors = _parse_mbr_entry(ebr, 0)
        if sectors and type_byte:
            start, size = (ebr_lba + lba) * SECTOR_BYTES, sectors * SECTOR_BYTES
            index = 5 + len(partitions)
            _check_extent(disk, f"logical partition {index}", start, size, ebr_lba * SECTOR_BYTES + 446)
            partitions.append(Partition(index, start, size, "mbr", f"0x{type_byte:02x}",
                                        MBR_TYPE_NAMES.get(type_byte, "unknown"), bootable=status == 0x80, disk=disk))
        _, next_type, next_lba, next_sectors = _parse_mbr_entry(ebr, 1)
        if not next_sectors or next_type not in MBR_EXTENDED_TYPES:
            break
        ebr_lba = extended_lba + next_lba
    return partitions


def _parse_gpt_header(disk: BlockDevice, lba: int) -> bytes | str:
    """The CRC-checked GPT header at ``lba``, or the reason there is none."""
    offset = lba * SECTOR_BYTES
    if lba <= 0 or offset + SECTOR_BYTES > disk.size_bytes:
        return f"GPT header LBA {lba} lies outside the disk"
    raw = disk.read(offset, SECTOR_BYTES)
    if raw[:8] != GPT_SIGNATURE:
        return f"no GPT header signature 'EFI PART' at LBA {lba}"
    header_size = struct.unpack_from("<I", raw, 12)[0]
    if not 92 <= header_size <= SECTOR_BYTES:
        return f"GPT header at LBA {lba} has an invalid size {header_size}"
    header = raw[:header_size]
    stored = struct.unpack_from("<I", header, 16)[0]
    if zlib.crc32(header[:16] + b"\0\0\0\0" + header[20:]) != stored:
        return f"GPT header CRC32 at LBA {lba} does not match"
    return header


def read_gpt(disk: BlockDevice) -> PartitionTable:
    """Read the primary GPT (falling back to the backup at the last LBA), checking both CRC32s."""
    parsed = _parse_gpt_header(disk, 1)
    if isinstance(parsed, str):
        backup = _parse_gpt_header(disk, disk.size_bytes // SECTOR_BYTES - 1)
        if isinstance(backup, str):
            raise ImageFormatError(f"{parsed}, and no valid backup GPT header", field="gpt.header",
                                   offset=SECTOR_BYTES)
        parsed = backup
    header = parsed
    (first_usable, last_usable) = struct.unpack_from("<QQ", header, 40)
    disk_guid = str(uuid.UUID(bytes_le=header[56:72]))
    entries_lba, count, entry_size, entries_crc = struct.unpack_from("<QIII", header, 72)
    if entry_size < 128 or entry_size % 8 or count > 4096:
        raise ImageFormatError(f"GPT entry array is implausible: {count} entries of {entry_size} bytes",
                               field="gpt.entries", offset=SECTOR_BYTES + 80)
    entries_offset = entries_lba * SECTOR_BYTES
    if entries_offset + count * entry_size > disk.size_bytes:
        raise ImageFormatError("GPT entry array runs past the end of the disk", field="gpt.entries",
                               offset=SECTOR_BYTES + 72)
    entries = disk.read(entries_offset, count * entry_size)
    if zlib.crc32(entries) != entries_crc:
        raise ImageFormatError("GPT partition entry array CRC32 does not match", field="gpt.entries_crc",
                               offset=SECTOR_BYTES + 88)
    partitions: list[Partition] = []
    for i in range(count):
        raw = entries[i * entry_size : (i + 1) * entry_size]
        if raw[:16] == bytes(16):
            continue
        type_guid = str(uuid.UUID(bytes_le=raw[:16]))
        first, last, attributes = struct.unpack_from("<QQQ", raw, 32)
        offset = entries_offset + i * entry_size
        if last < first or first < first_usable or last > last_usable:
            raise ImageFormatError(f"GPT partition {i + 1} spans LBA {first}-{last}, outside the usable "
                                   f"{first_usable}-{last_usable}", field="gpt.partition", offset=offset + 32)
        start, size = first * SECTOR_BYTES, (last - first + 1) * SECTOR_BYTES
        _check_extent(disk, f"GPT partition {i + 1}", start, size, offset)
        name = raw[56:128].decode("utf-16-le", "replace").split("\0", 1)[0]
        guid = str(uuid.UUID(bytes_le=raw[16:32]))
        partitions.append(Partition(i + 1, start, size, "gpt", type_guid, GPT_TYPE_NAMES.get(type_guid, "unknown"),
                                    name=name, guid=guid, bootable=bool(attributes & 4), partuuid=guid, disk=disk))
    return PartitionTable("gpt", partitions, disk_guid)


def declared_size_bytes(disk: BlockDevice) -> tuple[int, str] | None:
    """The size the disk's own metadata says it has, and what says so; None where nothing does.

    Read as ``read_partition_table`` reads: a whole-disk ext or XFS filesystem's superblock,
    else the primary GPT header (its backup lies on the last sector) or the MBR's primary
    entries, else a whole-disk LVM PV label. A disk shorter than this is truncated.
    """
    head = disk.read(0, 4096)
    fs = probe_filesystem(disk)
    if fs == "ext":
        blocks_lo, log_block = struct.unpack_from("<I", head, 1024 + 4)[0], struct.unpack_from("<I", head, 1024 + 24)[0]
        incompat = struct.unpack_from("<I", head, 1024 + 0x60)[0]
        blocks_hi = struct.unpack_from("<I", head, 1024 + 0x150)[0] if incompat & 0x80 else 0  # INCOMPAT_64BIT
        if log_block > 6:  # not a plausible superblock (block size over 64 KiB)
            return None
        return ((blocks_hi << 32) | blocks_lo) * (1024 << log_block), "the ext superblock"
    if fs == "xfs":
        block_bytes, data_blocks = struct.unpack_from(">IQ", head, 4)
        if block_bytes < SECTOR_BYTES or block_bytes > 65536 or block_bytes & (block_bytes - 1):
            return None
        return data_blocks * block_bytes, "the XFS superblock"
    if head[510:512] == b"\x55\xaa":
        entries = [_parse_mbr_entry(head, i) for i in range(4)]
        if any(e[1] == MBR_PROTECTIVE_TYPE for e in entries if e[3]):
            header = _parse_gpt_header(disk, 1)
            if isinstance(header, str):
                return None
            alternate_lba, _first_usable, last_usable = struct.unpack_from("<QQQ", header, 32)
            return (max(alternate_lba, last_usable) + 1) * SECTOR_BYTES, "the GPT header"
        ends = [lba + sectors for _, type_byte, lba, sectors in entries if type_byte and sectors]
        return (max(ends) * SECTOR_BYTES, "the MBR partition table") if ends else None
    if fs == "lvm":
        for sector in range(4):
            label = head[sector * SECTOR_BYTES : (sector + 1) * SECTOR_BYTES]
            if label[:8] == b"LABELONE":
                content = struct.unpack_from("<I", label, 20)[0]
                if 32 <= content <= SECTOR_BYTES - 40:
                    device_bytes = struct.unpack_from("<Q", label, content + 32)[0]
                    return (device_bytes, "the LVM PV label") if device_bytes else None
    return None


def list_partitions(disk: BlockDevice) -> list[Partition]:
    """The disk's partitions (extended containers left out), in index order."""
    return read_partition_table(disk).partitions
