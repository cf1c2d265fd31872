"""A filesystem's UUID and label as ``blkid`` reports them, read from its superblock bytes.

ext2/3/4, XFS, swap and btrfs keep a 16-byte UUID and a label at fixed offsets; FAT keeps a
32-bit volume ID (printed "ABCD-1234", upper case, as blkid does) and a label, which blkid takes
from the root directory's volume-label entry before the boot sector's. A UUID of zeros and an
empty label are no UUID and no label, as in blkid. Nothing but these few bytes is read.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from shipyard.errors import ImageFormatError
from shipyard.image.device import BlockDevice
from shipyard.image.fs.signature import BTRFS_MAGIC_OFFSET, SUPERBLOCK_OFFSET, Signature, find_signature

_EXT_UUID, _EXT_LABEL = SUPERBLOCK_OFFSET + 0x68, (SUPERBLOCK_OFFSET + 0x78, 16)
_XFS_UUID, _XFS_LABEL = 32, (108, 12)
_SWAP_UUID, _SWAP_LABEL = 1024 + 12, (1024 + 28, 16)  # after the 1 KiB boot bits: version, last page, bad pages
_BTRFS_SUPER = BTRFS_MAGIC_OFFSET - 0x40
_BTRFS_UUID, _BTRFS_LABEL = _BTRFS_SUPER + 0x20, (_BTRFS_SUPER + 0x12B, 256)
_LAYOUTS = {
    **dict.fromkeys(("ext2", "ext3", "ext4"), (_EXT_UUID, _EXT_LABEL)),
    "xfs": (_XFS_UUID, _XFS_LABEL),
    "swap": (_SWAP_UUID, _SWAP_LABEL),
    "btrfs": (_BTRFS_UUID, _BTRFS_LABEL),
}


@dataclass(frozen=True)
class FilesystemIdentity:
    """What blkid says a volume is: TYPE, UUID and LABEL (None where blkid prints none), VERSION for FAT."""

    type_name: str
    uuid: str | None
    label: str | None
    version: str | None = None  # "FAT12", "FAT16", "FAT32"


def format_uuid(raw: bytes) -> str | None:
    """16 bytes as a lower-case UUID string, or None when they are all zero."""
    return None if raw == bytes(16) else str(uuid.UUID(bytes=raw))


def decode_label(raw: bytes) -> str | None:
    """A NUL-padded label, cut at its first NUL and trimmed of trailing white space; None when empty."""
    text = raw.split(b"\0", 1)[0].decode("utf-8", "replace").rstrip()
    return text or None


def read_identity(device: BlockDevice, signature: Signature | None = None) -> FilesystemIdentity | None:
    """The identity of what ``device`` holds, or None when no known signature is there.

    A type with no UUID or label that shipyard reads (LVM2_member, crypto_LUKS, ...) answers
    its type only. A FAT boot sector that does not describe a volume raises ``ImageFormatError``.
    """
    signature = signature or find_signature(device)
    if signature is None:
        return None
    name = signature.type_name
    if name == "vfat":
        return _fat_identity(device)
    layout = _LAYOUTS.get(name)
    if layout is None:
        return FilesystemIdentity(name, None, None)
    uuid_offset, (label_offset, label_bytes) = layout
    return FilesystemIdentity(name, format_uuid(device.read(uuid_offset, 16).ljust(16, b"\0")),
                              decode_label(device.read(label_offset, label_bytes)))


def _fat_identity(device: BlockDevice) -> FilesystemIdentity:
    from shipyard.image.fs.fat import FatSource
    from shipyard.image.fs.fat_layout import volume_label

    source = FatSource(device)
    try:
        label = source.label
    except ImageFormatError:  # an unreadable root directory: blkid falls back on the boot sector's label
        label = volume_label(source.layout.boot_label)
    return FilesystemIdentity("vfat", source.uuid, label, source.version)
