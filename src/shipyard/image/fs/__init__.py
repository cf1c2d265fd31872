"""Read-only filesystems on a ``BlockDevice``, offered through the ``FileSource`` API.

``open_filesystem(device)`` detects the filesystem by its superblock magic and returns a
reader: ext2/3/4 (``ext2py``), XFS (``pyfsxfs``, the optional extra ``shipyard[xfs]``) or FAT
(``fat``: an EFI system partition, pure Python).
Anything else is refused by name. ``probe_filesystem(device)`` only names what is there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.errors import ImageFormatError
from shipyard.image.device import BlockDevice
from shipyard.image.fs.signature import Signature, find_signature

if TYPE_CHECKING:
    from shipyard.sources.base import FileSource

__all__ = ["Signature", "find_signature", "open_filesystem", "probe_filesystem"]

EXT_TYPES = ("ext2", "ext3", "ext4")
_HINTS = {
    "LVM2_member": "this is an LVM2 physical volume: open its logical volumes instead",
    "crypto_LUKS": "the volume is encrypted; shipyard cannot inspect encrypted images",
    "swap": "this is a swap area, not a root filesystem",
}


def probe_filesystem(device: BlockDevice) -> str | None:
    """The type name on ``device`` as blkid spells it ("ext4", "xfs", "swap", ...), or None."""
    signature = find_signature(device)
    return signature.type_name if signature else None


def open_filesystem(device: BlockDevice) -> FileSource:
    """A read-only ``FileSource`` over the filesystem on ``device``.

    Raises ``ImageFormatError`` for an unrecognised or unsupported filesystem, or for XFS
    when the optional extra is not installed.
    """
    signature = find_signature(device)
    if signature is None:
        raise ImageFormatError(
            "no known filesystem signature", field="filesystem", offset=0, hint="the partition may be empty or corrupt"
        )
    if signature.type_name in EXT_TYPES:
        from shipyard.image.fs.ext import ExtSource

        return ExtSource(device)
    if signature.type_name == "xfs":
        from shipyard.image.fs.xfs import XfsSource

        return XfsSource(device)
    if signature.type_name == "vfat":
        from shipyard.image.fs.fat import FatSource

        return FatSource(device)
    raise ImageFormatError(
        f"filesystem {signature.type_name} is not supported",
        field="filesystem",
        offset=signature.offset,
        hint=_HINTS.get(signature.type_name, "shipyard reads ext2/3/4, XFS and FAT filesystems"),
    )
