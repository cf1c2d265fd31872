"""The FAT boot sector (BPB) and directory entries: the on-disk structures ``FatSource`` reads.

The FAT type is decided as Linux decides it: a zero 16-bit "sectors per FAT" means FAT32,
otherwise the cluster count tells FAT12 (at most 4084 clusters) from FAT16. Directory entries
are the 32-byte records of the FAT specification, with VFAT long names (checksum-checked, in
sequence) and the Windows NT lower-case flags of 8.3 names, as Linux' default
``shortname=mixed`` shows them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from shipyard.errors import ImageFormatError

BOOT_SECTOR_BYTES = 512
DIRENT_BYTES = 32
ATTR_READ_ONLY = 0x01
ATTR_VOLUME_ID = 0x08
ATTR_DIRECTORY = 0x10
ATTR_LONG_NAME = 0x0F
_LFN_LAST = 0x40
_LFN_MAX_ENTRIES = 20  # 255 characters, 13 per entry
_NT_LOWER_BASE = 0x08
_NT_LOWER_EXT = 0x10
_FAT12_MAX_CLUSTERS = 4084  # Linux' MAX_FAT12
_FAT16_MAX_CLUSTERS = 65524
_FAT32_MAX_CLUSTER = 0x0FFFFFF6
_NO_NAME = b"NO NAME    "
SHORT_NAME_CODEC = "cp437"  # Linux' default codepage for 8.3 names
LABEL_CODEC = "cp850"  # mkfs.fat's default codepage for the label


def fat_error(message: str, offset: int | None = None) -> ImageFormatError:
    return ImageFormatError(f"vfat filesystem: {message}", field="vfat", offset=offset)


@dataclass(frozen=True)
class FatLayout:
    """Where everything lies, from the boot sector; all offsets in bytes from the start of the volume."""

    fat_bits: int  # 12, 16 or 32
    sector_bytes: int
    cluster_bytes: int
    fat_offset: int  # the FAT in use (FAT32 may name an active one when mirroring is off)
    fat_bytes: int
    root_offset: int  # FAT12/16: the fixed root directory region
    root_entries: int  # FAT12/16
    root_cluster: int  # FAT32; 0 on FAT12/16
    data_offset: int
    cluster_count: int
    total_bytes: int
    serial: int  # the volume ID (blkid prints it whatever the extended boot signature says)
    boot_label: bytes  # the 11 label bytes of the boot sector

    @property
    def max_cluster(self) -> int:
        """The highest valid cluster number (clusters are numbered from 2)."""
        return self.cluster_count + 1

    @property
    def version(self) -> str:
        return f"FAT{self.fat_bits}"

    @property
    def uuid(self) -> str:
        """The volume ID as blkid prints it, "ABCD-1234"."""
        return f"{self.serial >> 16:04X}-{self.serial & 0xFFFF:04X}"

    def cluster_offset(self, cluster: int) -> int:
        return self.data_offset + (cluster - 2) * self.cluster_bytes


def _power_of_two(value: int) -> bool:
    return value > 0 and value & (value - 1) == 0


def parse_boot_sector(sector: bytes, device_bytes: int) -> FatLayout:
    """The layout the BPB in ``sector`` describes, checked against itself and the device's size."""
    if len(sector) < BOOT_SECTOR_BYTES or sector[510:512] != b"\x55\xaa":
        raise fat_error("no boot sector signature 0x55AA", 510)
    sector_bytes, per_cluster, reserved, fats, root_entries, total16 = struct.unpack_from("<HBHBHH", sector, 11)
    fat16_sectors, total32, fat32_sectors, ext_flags = (struct.unpack_from("<H", sector, 22)[0],
                                                        *struct.unpack_from("<IIH", sector, 32))
    if sector_bytes not in (512, 1024, 2048, 4096):
        raise fat_error(f"invalid sector size {sector_bytes}", 11)
    if not _power_of_two(per_cluster):
        raise fat_error(f"invalid sectors per cluster {per_cluster}", 13)
    if reserved == 0 or fats == 0:
        raise fat_error(f"{reserved} reserved sectors and {fats} FATs", 14)
    total_sectors = total16 or total32
    fat_sectors = fat16_sectors or fat32_sectors
    if total_sectors == 0 or fat_sectors == 0:
        raise fat_error(f"{total_sectors} sectors in all, {fat_sectors} per FAT", 19)
    fat32 = fat16_sectors == 0
    root_sectors = -(-root_entries * DIRENT_BYTES // sector_bytes)
    if not fat32 and root_entries == 0:
        raise fat_error("a FAT12/16 volume with no root directory entries", 17)
    data_sector = reserved + fats * fat_sectors + root_sectors
    if data_sector >= total_sectors:
        raise fat_error(f"the data region starts at sector {data_sector}, past the {total_sectors} sectors", 14)
    cluster_count = (total_sectors - data_sector) // per_cluster
    fat_bits = 32 if fat32 else 12 if cluster_count <= _FAT12_MAX_CLUSTERS else 16
    if (fat_bits == 16 and cluster_count > _FAT16_MAX_CLUSTERS) or cluster_count > _FAT32_MAX_CLUSTER:
        raise fat_error(f"{cluster_count} clusters is too many for FAT{fat_bits}", 19)
    fat_bytes = fat_sectors * sector_bytes
    # clusters beyond what the FAT can address are unusable
    cluster_count = min(cluster_count, fat_bytes * 8 // fat_bits - 2)
    if cluster_count < 1:
        raise fat_error(f"a FAT of {fat_bytes} bytes addresses no cluster", 22)
    active = ext_flags & 0x0F if fat32 and ext_flags & 0x80 else 0
    if active >= fats:
        raise fat_error(f"active FAT {active} of {fats}", 40)
    total_bytes = total_sectors * sector_bytes
    if total_bytes > device_bytes:
        raise fat_error(f"the volume claims {total_bytes} bytes, its device has {device_bytes}", 19)
    root_cluster = struct.unpack_from("<I", sector, 44)[0] & 0x0FFFFFFF if fat32 else 0
    if fat32 and not 2 <= root_cluster <= cluster_count + 1:
        raise fat_error(f"root cluster {root_cluster} out of range 2-{cluster_count + 1}", 44)
    ebpb = 64 if fat32 else 36  # the extended BPB: drive number, signature, serial, label
    serial = struct.unpack_from("<I", sector, ebpb + 3)[0]
    return FatLayout(
        fat_bits, sector_bytes, per_cluster * sector_bytes, (reserved + active * fat_sectors) * sector_bytes,
        fat_bytes, (reserved + fats * fat_sectors) * sector_bytes, root_entries, root_cluster,
        data_sector * sector_bytes, cluster_count, total_bytes, serial, bytes(sector[ebpb + 7 : ebpb + 18]))


def volume_label(raw: bytes | None) -> str | None:
    """An 11-byte label as blkid reports it: trailing spaces trimmed; None when blank or "NO NAME"."""
    if raw is None or raw == _NO_NAME:
        return None
    text = raw.split(b"\0", 1)[0].rstrip(b" ").decode(LABEL_CODEC, "replace")
    return text or None


@dataclass(frozen=True)
class DirEntry:
    """One file or directory of a directory listing (``.``, ``..``, labels and deleted entries left out)."""

    name: str  # the long name, else the 8.3 name with its NT case flags applied
    short_name: str  # the 8.3 name as stored, "BOOTX64.EFI"
    attributes: int
    first_cluster: int
    size_bytes: int
    offset: int  # of the 8.3 entry, in bytes from the start of the volume

    @property
    def is_directory(self) -> bool:
        return bool(self.attributes & ATTR_DIRECTORY)


def lfn_checksum(short_name: bytes) -> int:
    """The checksum of an 11-byte 8.3 name that its long-name entries carry."""
    total = 0
    for byte in short_name:
        total = (((total & 1) << 7) + (total >> 1) + byte) & 0xFF
    return total


def _lfn_units(raw: bytes) -> bytes:
    return raw[1:11] + raw[14:26] + raw[28:32]


def _short_names(stored: bytes, case_flags: int) -> tuple[str, str]:
    """(shown name, stored 8.3 name) of an entry's 11 name bytes."""
    raw = b"\xe5" + stored[1:] if stored[0] == 0x05 else stored  # 0x05 stands for a leading 0xE5
    base, ext = raw[:8].rstrip(b" ").decode(SHORT_NAME_CODEC), raw[8:11].rstrip(b" ").decode(SHORT_NAME_CODEC)
    stored_name = f"{base}.{ext}" if ext else base
    if case_flags & _NT_LOWER_BASE:
        base = base.lower()
    if case_flags & _NT_LOWER_EXT:
        ext = ext.lower()
    return (f"{base}.{ext}" if ext else base), stored_name


def parse_directory(data: bytes, volume_offset: int, fat32: bool) -> tuple[list[DirEntry], bytes | None]:
    """The entries of a directory's bytes, and the volume label entry's 11 bytes if it holds one.

    A long name is used only when its entries are complete, in sequence, and carry the checksum
    of the 8.3 entry that follows them; otherwise the 8.3 name stands, as in Linux.
    ``volume_offset`` is where ``data`` starts on the volume (for messages).
    """
    entries: list[DirEntry] = []
    label: bytes | None = None
    parts: list[bytes] = []
    expected, checksum = 0, -1
    for position in range(0, len(data) - DIRENT_BYTES + 1, DIRENT_BYTES):
        raw = data[position : position + DIRENT_BYTES]
        first, attributes = raw[0], raw[11]
        if first == 0x00:
            break
        if first == 0xE5:
            expected = 0
            continue
        if attributes & 0x3F == ATTR_LONG_NAME:
            sequence = first & 0x1F
            if first & _LFN_LAST and 1 <= sequence <= _LFN_MAX_ENTRIES:
                parts, expected, checksum = [_lfn_units(raw)], sequence, raw[13]
            elif expected > 1 and sequence == expected - 1 and raw[13] == checksum:
                parts.append(_lfn_units(raw))
                expected = sequence
            else:
                expected = 0
            continue
        long_units = b"".join(reversed(parts)) if expected == 1 and lfn_checksum(raw[:11]) == checksum else None
        expected = 0
        if attributes & ATTR_VOLUME_ID:
            # blkid's rule for the label: a volume-ID entry that is no directory and has no cluster
            if label is None and not attributes & ATTR_DIRECTORY and raw[20:22] == raw[26:28] == b"\0\0":
                label = raw[:11]
            continue
        if raw[:11] in (b".          ", b"..         "):
            continue
        shown, stored = _short_names(raw[:11], raw[12])
        if long_units is not None:
            shown = _decode_long_name(long_units, volume_offset + position)
        high = struct.unpack_from("<H", raw, 20)[0] if fat32 else 0
        cluster = high << 16 | struct.unpack_from("<H", raw, 26)[0]
        entries.append(DirEntry(shown, stored, attributes, cluster, struct.unpack_from("<I", raw, 28)[0],
                                volume_offset + position))
    return entries, label


def _decode_long_name(units: bytes, offset: int) -> str:
    for index in range(0, len(units), 2):
        if units[index : index + 2] == b"\0\0":
            units = units[:index]
            break
    name = units.decode("utf-16-le", "replace")
    if not name or "/" in name or name in (".", ".."):
        raise fat_error(f"a long file name {name!r} that no file can have", offset)
    return name
