"""Filesystem and volume signatures: which format a device holds, from its magic bytes.

Each check reads a few bytes at a fixed offset, as blkid does. Only the first 4 KiB and two
small windows (btrfs at 64 KiB, iso9660 at 32 KiB, swap on large pages) are ever read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from shipyard.image.device import BlockDevice

SUPERBLOCK_OFFSET = 1024
EXT_MAGIC_OFFSET = SUPERBLOCK_OFFSET + 56
EXT_MAGIC = 0xEF53
XFS_MAGIC = b"XFSB"
BTRFS_MAGIC_OFFSET = 0x10040
BTRFS_MAGIC = b"_BHRfS_M"
ISO9660_MAGIC_OFFSET = 0x8001
HEAD_SIZE_BYTES = 4096

# ext feature bits that tell ext2, ext3 and ext4 apart (as blkid does).
_COMPAT_HAS_JOURNAL = 0x0004
_INCOMPAT_EXT4_ONLY = 0x0040 | 0x0080 | 0x0200 | 0x8000  # extent, 64bit, flex_bg, inline_data
_RO_COMPAT_EXT4_ONLY = 0x0008 | 0x0010 | 0x0020 | 0x0040 | 0x0400  # huge_file ... metadata_csum


@dataclass(frozen=True)
class Signature:
    """What a device holds: a type name as blkid spells it, and where its magic lies."""

    type_name: str
    offset: int


def classify_ext(compat: int, incompat: int, ro_compat: int) -> str:
    """"ext2", "ext3" or "ext4" from the superblock's feature flags, as blkid decides."""
    if incompat & _INCOMPAT_EXT4_ONLY or ro_compat & _RO_COMPAT_EXT4_ONLY:
        return "ext4"
    return "ext3" if compat & _COMPAT_HAS_JOURNAL else "ext2"


def _is_vfat(head: bytes) -> bool:
    if head[510:512] != b"\x55\xaa" or head[0] not in (0xEB, 0xE9):
        return False
    return head[82:87] == b"FAT32" or head[54:57] == b"FAT"


def _swap_offset(device: BlockDevice, head: bytes) -> int | None:
    for page_bytes in (4096, 8192, 16384, 65536):
        offset = page_bytes - 10
        tail = head[offset:page_bytes] if page_bytes <= len(head) else device.read(offset, 10)
        if tail in (b"SWAPSPACE2", b"SWAP-SPACE"):
            return offset
    return None


def find_signature(device: BlockDevice) -> Signature | None:
    """The recognised format on ``device``, or None when no known magic is found."""
    head = device.read(0, HEAD_SIZE_BYTES).ljust(HEAD_SIZE_BYTES, b"\0")
    if head[:6] == b"LUKS\xba\xbe":
        return Signature("crypto_LUKS", 0)
    for sector in range(4):
        label = head[sector * 512 : sector * 512 + 32]
        if label[:8] == b"LABELONE" and label[24:32] == b"LVM2 001":
            return Signature("LVM2_member", sector * 512)
    if head[:4] == XFS_MAGIC:
        return Signature("xfs", 0)
    if struct.unpack_from("<H", head, EXT_MAGIC_OFFSET)[0] == EXT_MAGIC:
        features = struct.unpack_from("<3I", head, SUPERBLOCK_OFFSET + 92)
        return Signature(classify_ext(*features), EXT_MAGIC_OFFSET)
    if head[:4] in (b"hsqs", b"sqsh"):
        return Signature("squashfs", 0)
    if head[3:11] == b"NTFS    ":
        return Signature("ntfs", 3)
    if _is_vfat(head):
        return Signature("vfat", 0)
    swap_offset = _swap_offset(device, head)
    if swap_offset is not None:
        return Signature("swap", swap_offset)
    if device.read(BTRFS_MAGIC_OFFSET, len(BTRFS_MAGIC)) == BTRFS_MAGIC:
        return Signature("btrfs", BTRFS_MAGIC_OFFSET)
    if device.read(ISO9660_MAGIC_OFFSET, 5) == b"CD001":
        return Signature("iso9660", ISO9660_MAGIC_OFFSET)
    return None
