"""The mount facts: /etc/fstab, swap files, and a live node's volumes from /dev/disk/by-*."""

from __future__ import annotations

import os
from pathlib import Path

from shipyard.facts.boot import DiskFacts, VolumeFacts
from shipyard.facts.collectors.mounts import collect_live_disk, collect_mounts
from shipyard.sources import DirectorySource

ROOT_UUID = "5b1d3c1e-6a0e-4d52-9d4e-0b7a1f2c3d4e"


def test_fstab_entries_and_swap_files(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/fstab").write_text(
        f"UUID={ROOT_UUID} / ext4 defaults 0 1\n/swapfile none swap sw 0 0\n/gone none swap sw 0 0\n"
    )
    (tmp_path / "swapfile").write_bytes(b"\0" * 4096)
    mounts = collect_mounts(DirectorySource(tmp_path))
    assert mounts.fstab_present
    assert [(e.line, e.mount_point, e.fstype) for e in mounts.entries] == [(1, "/", "ext4"), (2, "none", "swap"), (3, "none", "swap")]
    assert mounts.swap_files == ("/swapfile",)  # /gone is named but not there


def test_no_fstab_is_a_known_absence(tmp_path: Path) -> None:
    mounts = collect_mounts(DirectorySource(tmp_path))
    assert not mounts.fstab_present and mounts.entries == ()


def test_live_volumes_from_udev_links(tmp_path: Path) -> None:
    by = tmp_path / "dev/disk"
    for directory, name, target in [
        ("by-uuid", ROOT_UUID, "../../sda1"), ("by-label", "cloudimg-rootfs", "../../sda1"),
        ("by-partuuid", "2f1e8c1a-01", "../../sda1"), ("by-uuid", "ABCD-1234", "../../sda15"),
        ("by-label", "my\\x20data", "../../sdc1"),
    ]:
        (by / directory).mkdir(parents=True, exist_ok=True)
        os.symlink(target, by / directory / name)
    disk = collect_live_disk(DirectorySource(tmp_path))
    assert disk is not None and disk.source == "live"
    sda1 = disk.find(f"UUID={ROOT_UUID.upper()}")
    assert sda1 is not None and sda1.device_paths == ("/dev/sda1",) and sda1.partition == 1
    assert disk.find("LABEL=cloudimg-rootfs") == sda1 == disk.find("/dev/sda1") == disk.find("PARTUUID=2f1e8c1a-01")
    assert disk.find("LABEL=my data") is not None
    assert disk.find("UUID=ffff-0000") is None
    assert disk.find("/dev/sdb1") is None  # live: only what udev names


def test_no_dev_disk_is_unknown(tmp_path: Path) -> None:
    assert collect_live_disk(DirectorySource(tmp_path)) is None


def test_image_disk_finds_partitions_by_kernel_name_and_lvs_by_path() -> None:
    disk = DiskFacts(scheme="gpt", source="image", volumes=(
        VolumeFacts(location="partition 1", partition=1, filesystem="vfat", uuid="ABCD-1234", part_type="efi"),
        VolumeFacts(location="LV rootvg/rootlv", filesystem="xfs", uuid=ROOT_UUID, is_root=True,
                    device_paths=("/dev/mapper/rootvg-rootlv", "/dev/rootvg/rootlv")),
    ))
    assert disk.find("/dev/sda1") == disk.volumes[0] == disk.find("/dev/nvme0n1p1") == disk.find("UUID=abcd-1234")
    assert disk.find("/dev/sdb1") is None and disk.find("/dev/sda2") is None
    assert disk.find("/dev/rootvg/rootlv") == disk.root == disk.find(f"UUID={ROOT_UUID}")
