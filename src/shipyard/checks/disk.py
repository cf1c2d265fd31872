"""An image's disk as facts, and its root as the running system would see it.

``disk_facts`` turns the partition table and the volumes' identities into ``DiskFacts``, which
the fstab, swap and generation rules resolve against. ``mounted_root`` mounts what the image's
own ``/etc/fstab`` puts on ``/boot``, ``/boot/efi`` and ``/efi`` (RHEL's separate ``/boot``,
every UEFI image's EFI system partition) over the root filesystem, so that the boot facts read
the files the bootloader reads.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from shipyard.errors import ImageFormatError
from shipyard.facts.boot import DiskFacts, VolumeFacts
from shipyard.image.fs import open_filesystem
from shipyard.image.root import OpenedImage, Volume
from shipyard.sources.base import FileSource, read_optional
from shipyard.sources.fstab import parse_fstab
from shipyard.sources.mounted import MountedSource

log = logging.getLogger("shipyard.checks")

BOOT_MOUNTS = ("/boot", "/boot/efi", "/efi")
MOUNTABLE = ("ext2", "ext3", "ext4", "xfs", "vfat")


def _lv_paths(location: str) -> tuple[str, ...]:
    """The device paths an LV has on a running system: /dev/VG/LV and /dev/mapper/VG-LV."""
    if not location.startswith("LV "):
        return ()
    group, _, name = location[3:].partition("/")
    mapper = f"{group.replace('-', '--')}-{name.replace('-', '--')}"
    return (f"/dev/{group}/{name}", f"/dev/mapper/{mapper}")


def _volume_facts(volume: Volume, root_location: str) -> VolumeFacts:
    return VolumeFacts(
        location=volume.location, partition=volume.partition, filesystem=volume.filesystem, uuid=volume.uuid,
        label=volume.label, partuuid=volume.partuuid, partlabel=volume.partlabel, part_type=volume.part_type,
        device_paths=_lv_paths(volume.location), size_bytes=volume.device.size_bytes,
        is_root=volume.location == root_location,
    )


def disk_facts(image: OpenedImage) -> DiskFacts:
    return DiskFacts(
        scheme=image.table.scheme,
        volumes=tuple(_volume_facts(v, image.root_location) for v in image.volumes),
        mbr_boot_code=image.table.mbr_boot_code,
        source="image",
    )


@dataclass(frozen=True)
class MountedRoot:
    source: FileSource
    mounted: dict[str, str]  # mount point -> the volume's location
    failed: dict[str, str]  # mount point -> why it could not be mounted


def mounted_root(image: OpenedImage, disk: DiskFacts) -> MountedRoot:
    """The root with its boot filesystems mounted where its fstab says."""
    mounts: dict[str, FileSource] = {}
    mounted: dict[str, str] = {}
    failed: dict[str, str] = {}
    try:
        text = read_optional(image.root, "/etc/fstab")
    except OSError as error:
        return MountedRoot(image.root, {}, {"/etc/fstab": str(error)})
    by_location = {v.location: v for v in image.volumes}
    for entry in parse_fstab(text or ""):
        point = entry.mount_point.rstrip("/") or "/"
        if point not in BOOT_MOUNTS or point in mounts:
            continue
        found = disk.find(entry.spec)
        if found is None or found.is_root:
            continue  # boot.fstab reports an entry that names nothing; the root is already there
        volume = by_location[found.location]
        if volume.filesystem not in MOUNTABLE:
            failed[point] = f"{volume.location} holds {volume.filesystem or 'no known filesystem'}"
            continue
        try:
            mounts[point] = open_filesystem(volume.device)
        except (ImageFormatError, OSError) as error:
            failed[point] = f"{volume.location}: {error}"
            continue
        mounted[point] = volume.location
    for point, why in failed.items():
        log.warning("could not mount %s from the image (%s); the boot facts stay unknown", point, why)
    source: FileSource = MountedSource(image.root, mounts) if mounts else image.root
    return MountedRoot(source, mounted, failed)
