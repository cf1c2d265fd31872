"""Open an image (a file or any block device) down to its root filesystem: container -> partitions -> LVM -> fs.

The root is the filesystem that holds ``/etc/os-release`` (or another release file), or else
the only filesystem with ``/etc`` and ``/usr``. Everything
is read-only, and only metadata and the few files the collectors ask for are read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.errors import ImageFormatError
from shipyard.image.azure import AzureProblem, azure_problems
from shipyard.image.device import BlockDevice
from shipyard.image.fs import EXT_TYPES, open_filesystem
from shipyard.image.fs.identity import FilesystemIdentity, read_identity
from shipyard.image.fs.signature import find_signature
from shipyard.image.lvm import open_logical_volume, read_volume_group
from shipyard.image.partitions import Partition, PartitionTable, read_partition_table
from shipyard.image.vhd import DiskImage, compute_chs_geometry
from shipyard.image.disk import open_disk
from shipyard.sources.base import FileSource

ROOT_MARKERS = ("/etc/os-release", "/usr/lib/os-release", "/etc/lsb-release", "/etc/redhat-release")
READABLE = (*EXT_TYPES, "xfs")


@dataclass
class Volume:
    """A place a filesystem may live: a partition or a logical volume, and who it is.

    The identities are blkid's: ``uuid`` and ``label`` of the filesystem (a FAT volume ID as
    "ABCD-1234"), ``partuuid``/``partlabel``/``part_type`` of the partition (None for an LV and
    for a whole-disk filesystem, which have no partition entry).
    """

    location: str  # "partition 1", "LV rootvg/rootlv", "whole disk"
    device: BlockDevice
    filesystem: str | None
    problem: str | None = None  # why it cannot be read (thin LV, ...)
    partition: int | None = None  # the partition number (sda1's "1"); None for an LV or a whole disk
    uuid: str | None = None
    label: str | None = None
    partuuid: str | None = None
    partlabel: str | None = None
    part_type: str | None = None  # the partition type's name: "linux", "efi", "bios-boot", "swap", ...

    def describe(self) -> dict[str, Any]:
        """The volume's entry in ``image inspect``'s ``format.volumes``."""
        return {"location": self.location, "size_bytes": self.device.size_bytes, "filesystem": self.filesystem,
                "partition": self.partition, "uuid": self.uuid, "label": self.label, "partuuid": self.partuuid,
                "partlabel": self.partlabel, "part_type": self.part_type,
                **({"problem": self.problem} if self.problem else {})}


@dataclass
class OpenedImage:
    name: str  # the image's path, or a blob's bare URI
    disk: DiskImage
    table: PartitionTable
    volumes: list[Volume]
    root: FileSource
    root_location: str
    root_filesystem: str
    problems: tuple[AzureProblem, ...] = field(init=False)  # what Azure would refuse in the container

    def __post_init__(self) -> None:
        self.problems = tuple(azure_problems(self.disk))

    def close(self) -> None:
        self.disk.close()

    def __enter__(self) -> OpenedImage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe_format(self) -> dict[str, Any]:
        """The container report: the ``format`` key of ``image inspect``."""
        footer = self.disk.footer
        geometry = None
        if footer is not None:
            chs = (footer.cylinders, footer.heads, footer.sectors_per_track)
            geometry = {
                "cylinders": chs[0], "heads": chs[1], "sectors_per_track": chs[2],
                # the VHD spec's CHS algorithm; only the footer's size matters to Azure
                "matches_spec": chs == compute_chs_geometry(footer.current_size_bytes),
                "creator_application": footer.creator_application,
            }
        return {
            "path": self.name,
            "type": self.disk.format,
            "virtual_size_bytes": self.disk.size_bytes,
            "file_size_bytes": self.disk.file_size_bytes,
            "footer_checksum_valid": footer.checksum_valid if footer else None,
            "geometry": geometry,
            "partition_table": self.table.scheme,
            "ptuuid": self.table.ptuuid,
            "mbr_boot_code": self.table.mbr_boot_code,
            "volumes": [volume.describe() for volume in self.volumes],
            "root": {"location": self.root_location, "filesystem": self.root_filesystem},
            "azure_problems": [
                {"id": p.id, "message": p.message, "fix": p.fix} for p in self.problems
            ],
        }


def _identify(device: BlockDevice) -> tuple[str | None, FilesystemIdentity | None]:
    """The filesystem type on ``device`` and its identity; a FAT boot sector too broken to name a volume
    leaves the identity unknown (reading the files then says what is wrong)."""
    signature = find_signature(device)
    if signature is None:
        return None, None
    try:
        return signature.type_name, read_identity(device, signature)
    except ImageFormatError:
        return signature.type_name, None


def _partition_volume(where: str, device: BlockDevice, partition: Partition | None) -> Volume:
    filesystem, identity = _identify(device)
    volume = Volume(where, device, filesystem, uuid=identity.uuid if identity else None,
                    label=identity.label if identity else None)
    if partition is not None:
        volume.partition, volume.partuuid = partition.index, partition.partuuid
        volume.partlabel, volume.part_type = partition.partlabel, partition.type_name
    return volume


def _volumes(disk: DiskImage, table: PartitionTable) -> Iterator[Volume]:
    for partition in table.partitions:
        device = partition.open_device()
        whole = table.scheme == "none"
        volume = _partition_volume("whole disk" if whole else f"partition {partition.index}", device,
                                   None if whole else partition)
        if volume.filesystem != "LVM2_member":
            yield volume
            continue
        group = read_volume_group(device)
        for logical in group.logical_volumes:
            location = f"LV {group.name}/{logical.name}"
            if logical.problem:
                yield Volume(location, device, None, logical.problem)
                continue
            yield _partition_volume(location, open_logical_volume(group, logical.name), None)


def _is_root(source: FileSource) -> bool:
    return any(source.exists(marker) for marker in ROOT_MARKERS)


def open_image(image: str | Path | BlockDevice, *, allow_bad_checksum: bool = True) -> OpenedImage:
    """Open ``image`` (a path, or a ``BlockDevice`` it then owns) and find its root filesystem.

    One-line ``ImageFormatError`` otherwise. With ``allow_bad_checksum`` (the default) a bad footer checksum does not stop the reading:
    ``image inspect`` lists it in ``azure_problems`` and ``image check`` fails ``vhd.footer``.
    """
    disk = open_disk(Path(image) if isinstance(image, str) else image, allow_bad_checksum=allow_bad_checksum)
    try:
        table = read_partition_table(disk)
        volumes = list(_volumes(disk, table))
        unreadable: list[str] = []
        rootlike: list[tuple[Volume, FileSource, str]] = []
        for volume in volumes:
            filesystem = volume.filesystem
            if volume.problem:
                unreadable.append(f"{volume.location}: {volume.problem}")
                continue
            if filesystem is None or filesystem not in READABLE:
                if filesystem not in (None, "swap", "vfat"):
                    unreadable.append(f"{volume.location}: filesystem {filesystem} is not supported")
                continue
            source = open_filesystem(volume.device)
            if _is_root(source):
                return OpenedImage(disk.name, disk, table, volumes, source, volume.location, filesystem)
            if source.exists("/etc") and source.exists("/usr"):
                rootlike.append((volume, source, filesystem))
        if len(rootlike) == 1:  # a root without release files: still read, and os.detected fails
            volume, source, filesystem = rootlike[0]
            return OpenedImage(disk.name, disk, table, volumes, source, volume.location, filesystem)
        detail = "; ".join(unreadable)
        raise ImageFormatError(
            "no root filesystem found: no readable partition holds /etc/os-release"
            + (f" ({detail})" if detail else ""),
            field="root",
        )
    except BaseException:
        disk.close()
        raise
