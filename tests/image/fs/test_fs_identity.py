"""Filesystem UUIDs and labels read from the superblock bytes, checked against ``blkid -p -o export``.

Each filesystem is made by its own tool with a given UUID (or FAT volume ID) and label, and
once more with none, where the tool allows it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from image.fs.fat_builders import blkid, tool

from shipyard.image.device import FileDevice, RangeDevice
from shipyard.image.fs.identity import FilesystemIdentity, read_identity

MIB = 1024 * 1024
# name: (tool, arguments before the target, size, the identity it must read)
MADE = {
    "ext4": ("mkfs.ext4", ["-q", "-U", "0b9e3bd8-6f8c-4a5e-9c3c-6c8b0f7a1e11", "-L", "cloudimg-rootfs"], 16 * MIB,
             FilesystemIdentity("ext4", "0b9e3bd8-6f8c-4a5e-9c3c-6c8b0f7a1e11", "cloudimg-rootfs")),
    "ext2": ("mkfs.ext2", ["-q", "-U", "11111111-2222-4333-8444-555555555555"], 8 * MIB,
             FilesystemIdentity("ext2", "11111111-2222-4333-8444-555555555555", None)),
    "xfs": ("mkfs.xfs", ["-q", "-m", "uuid=2c1f5a30-1111-4222-8333-444455556666", "-L", "xfsroot"], 300 * MIB,
            FilesystemIdentity("xfs", "2c1f5a30-1111-4222-8333-444455556666", "xfsroot")),
    "swap": ("mkswap", ["-U", "7e1d0000-aaaa-4bbb-8ccc-ddddeeeeffff", "-L", "swaplabel"], 8 * MIB,
             FilesystemIdentity("swap", "7e1d0000-aaaa-4bbb-8ccc-ddddeeeeffff", "swaplabel")),
    "swap-bare": ("mkswap", ["-U", "clear"], 8 * MIB, FilesystemIdentity("swap", None, None)),
    "btrfs": ("mkfs.btrfs", ["-q", "-U", "5a5a5a5a-1234-4321-8888-999999999999", "-L", "btrlabel"], 128 * MIB,
              FilesystemIdentity("btrfs", "5a5a5a5a-1234-4321-8888-999999999999", "btrlabel")),
    "fat12": ("mkfs.fat", ["-F", "12", "-i", "1234abcd", "-n", "ESP12"], 4 * MIB,
              FilesystemIdentity("vfat", "1234-ABCD", "ESP12", "FAT12")),
    "fat16": ("mkfs.fat", ["-F", "16", "-i", "0000BEEF"], 32 * MIB,
              FilesystemIdentity("vfat", "0000-BEEF", None, "FAT16")),
    "fat32": ("mkfs.fat", ["-F", "32", "-i", "DEADBEEF", "-n", "UEFI"], 40 * MIB,
              FilesystemIdentity("vfat", "DEAD-BEEF", "UEFI", "FAT32")),
}


def make(tmp_path: Path, name: str) -> Path:
    command, arguments, size_bytes, _ = MADE[name]
    image = tmp_path / f"{name}.img"
    with open(image, "wb") as out:
        out.truncate(size_bytes)
    made = subprocess.run([tool(command), *arguments, str(image)], capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    return image


@pytest.mark.parametrize("name", sorted(MADE))
def test_identity_agrees_with_blkid(name: str, tmp_path: Path) -> None:
    image = make(tmp_path, name)
    ours = read_identity(FileDevice(image))
    assert ours == MADE[name][3]
    theirs = blkid(image)
    assert (ours.type_name, ours.uuid, ours.label) == (theirs["TYPE"], theirs.get("UUID"), theirs.get("LABEL"))
    if ours.version:
        assert ours.version == theirs["VERSION"]


def test_identity_through_a_partition_window(tmp_path: Path) -> None:
    image = make(tmp_path, "ext4")
    disk = tmp_path / "disk.raw"
    with open(disk, "wb") as out:
        out.seek(MIB)
        out.write(image.read_bytes())
    assert read_identity(RangeDevice(FileDevice(disk), MIB, image.stat().st_size)) == MADE["ext4"][3]


def test_the_fat_label_of_the_root_directory_comes_before_the_boot_sectors(tmp_path: Path) -> None:
    image = make(tmp_path, "fat32")
    result = subprocess.run([tool("mlabel"), "-i", str(image), "::NEWLABEL"], capture_output=True, text=True,
                            env={"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    with open(image, "r+b") as handle:  # an older label left in the boot sector, as some tools leave it
        handle.seek(71)
        handle.write(b"OLDLABEL   ")
    theirs = blkid(image)
    assert (theirs["LABEL"], theirs["LABEL_FATBOOT"]) == ("NEWLABEL", "OLDLABEL")
    assert read_identity(FileDevice(image)) == FilesystemIdentity("vfat", "DEAD-BEEF", "NEWLABEL", "FAT32")


def test_nothing_known_is_none_and_a_type_without_identity_names_its_type(tmp_path: Path) -> None:
    blank = tmp_path / "blank.img"
    blank.write_bytes(bytes(MIB))
    assert read_identity(FileDevice(blank)) is None
    squash = tmp_path / "squash.img"
    squash.write_bytes(b"hsqs" + bytes(MIB))
    assert read_identity(FileDevice(squash)) == FilesystemIdentity("squashfs", None, None)
