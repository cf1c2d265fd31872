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
from shipyard.image.fs import EXT_TYPES, open_filesystem, probe_filesystem
from shipyard.image.lvm import open_logical_volume, read_volume_group
from shipyard.image.partitions import PartitionTable, read_partition_table
from shipyard.image.vhd import DiskImage, compute_chs_geometry
from shipyard.image.disk import open_disk
from shipyard.sources.base import FileSource

ROOT_MARKERS = ("/etc/os-release", "/usr/lib/os-release", "/etc/lsb-release", "/etc/redhat-release")
READABLE = (*EXT_TYPES, "xfs")


@dataclass
class Volume:
    """A place a filesystem may live: a partition or a logical volume."""

    location: str  # "partition 1", "LV rootvg/rootlv"
    device: BlockDevice
    filesystem: str | None
    problem: str | None = None  # why it cannot be read (thin LV, ...)


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
            "volumes": [
                {"location": v.location, "size_bytes": v.device.size_bytes, "filesystem": v.filesystem,
                 **({"problem": v.problem} if v.problem else {})}
                for v in self.volumes
            ],
            "root": {"location": self.root_location, "filesystem": self.root_filesystem},
            "azure_problems": [
                {"id": p.id, "message": p.message, "fix": p.fix} for p in self.problems
            ],
        }


def _volumes(disk: DiskImage, table: PartitionTable) -> Iterator[Volume]:
    for partition in table.partitions:
        device = partition.open_device()
        filesystem = probe_filesystem(device)
        where = f"partition {partition.index}" if table.scheme != "none" else "whole disk"
        if filesystem != "LVM2_member":
            yield Volume(where, device, filesystem)
            continue
        group = read_volume_group(device)
        for volume in group.logical_volumes:
            location = f"LV {group.name}/{volume.name}"
            if volume.problem:
                yield Volume(location, device, None, volume.problem)
                continue
            lv_device = open_logical_volume(group, volume.name)
            yield Volume(location, lv_device, probe_filesystem(lv_device))


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
