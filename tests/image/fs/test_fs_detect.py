"""Filesystem detection by superblock magic, and the refusals ``open_filesystem`` gives."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from image.fs.fs_builders import EXT_VARIANTS, tool

from shipyard.errors import ImageFormatError
from shipyard.image.device import FileDevice, RangeDevice
from shipyard.image.fs import open_filesystem, probe_filesystem

SIZE_BYTES = 1024 * 1024


def device_with(tmp_path: Path, *writes: tuple[int, bytes], size_bytes: int = SIZE_BYTES) -> FileDevice:
    """A zero-filled device with ``bytes`` written at each offset."""
    image = bytearray(size_bytes)
    for offset, data in writes:
        image[offset : offset + len(data)] = data
    path = tmp_path / "device.img"
    path.write_bytes(bytes(image))
    return FileDevice(path)


MAGIC_CASES = [
    ("btrfs", [(0x10040, b"_BHRfS_M")], 0x10040),
    ("swap", [(4086, b"SWAPSPACE2")], 4086),
    ("swap", [(65526, b"SWAPSPACE2")], 65526),
    ("LVM2_member", [(512, b"LABELONE"), (512 + 24, b"LVM2 001")], 512),
    ("crypto_LUKS", [(0, b"LUKS\xba\xbe")], 0),
    ("ntfs", [(0, b"\xeb\x52\x90NTFS    "), (510, b"\x55\xaa")], 3),
    ("squashfs", [(0, b"hsqs")], 0),
    ("iso9660", [(0x8001, b"CD001")], 0x8001),
]


@pytest.mark.parametrize("name,writes,offset", MAGIC_CASES)
def test_magic_is_recognised_and_refused_by_name(name, writes, offset, tmp_path):
    device = device_with(tmp_path, *writes)
    assert probe_filesystem(device) == name
    with pytest.raises(ImageFormatError) as caught:
        open_filesystem(device)
    assert str(caught.value) == f"filesystem {name} is not supported"
    assert (caught.value.field, caught.value.offset) == ("filesystem", offset)
    assert caught.value.hint


@pytest.mark.parametrize("writes", [
    [(0, b"\xeb\x58\x90"), (82, b"FAT32   "), (510, b"\x55\xaa")],
    [(0, b"\xeb\x3c\x90"), (54, b"FAT16   "), (510, b"\x55\xaa")],
])
def test_fat_magic_without_a_boot_sector_is_named_and_refused_in_one_line(writes, tmp_path):
    device = device_with(tmp_path, *writes)
    assert probe_filesystem(device) == "vfat"
    with pytest.raises(ImageFormatError) as caught:
        open_filesystem(device)
    assert str(caught.value) == "vfat filesystem: invalid sector size 0"
    assert (caught.value.field, caught.value.offset) == ("vfat", 11)


def test_ext_magic_alone_names_ext2(tmp_path):
    assert probe_filesystem(device_with(tmp_path, (1080, struct.pack("<H", 0xEF53)))) == "ext2"


@pytest.mark.parametrize("variant", sorted(EXT_VARIANTS))
def test_real_ext_images_are_named_like_blkid(variant, ext_images):
    expected = {"ext2": "ext2", "ext2-htree": "ext2", "ext3": "ext3"}.get(variant, "ext4")
    device = FileDevice(ext_images(variant))
    assert probe_filesystem(device) == expected
    assert open_filesystem(device).filesystem_type == expected
    assert device.bytes_read <= 4096 * 4


def test_real_btrfs_is_refused(source_tree, tmp_path):
    if shutil.which("mkfs.btrfs") is None and not Path("/usr/sbin/mkfs.btrfs").exists():
        pytest.skip("mkfs.btrfs is not installed (the magic-bytes case above still runs)")
    image = tmp_path / "root.btrfs"
    with open(image, "wb") as handle:
        handle.truncate(128 * 1024 * 1024)
    subprocess.run([tool("mkfs.btrfs"), "-q", "--rootdir", str(source_tree / "etc"), str(image)], check=True)
    with pytest.raises(ImageFormatError, match=r"^filesystem btrfs is not supported$"):
        open_filesystem(FileDevice(image))


def test_real_swap_is_refused(tmp_path):
    image = tmp_path / "swap.img"
    with open(image, "wb") as handle:
        handle.truncate(SIZE_BYTES)
    subprocess.run([tool("mkswap"), str(image)], check=True, capture_output=True)
    assert probe_filesystem(FileDevice(image)) == "swap"


@pytest.mark.parametrize("size_bytes", [0, 100, 2048, SIZE_BYTES])
def test_blank_or_tiny_device_has_no_signature(size_bytes, tmp_path):
    device = device_with(tmp_path, size_bytes=size_bytes)
    assert probe_filesystem(device) is None
    with pytest.raises(ImageFormatError, match=r"^no known filesystem signature$"):
        open_filesystem(device)


def test_probe_at_an_offset(ext_images, tmp_path):
    image = ext_images("ext4").read_bytes()
    disk = tmp_path / "disk.raw"
    disk.write_bytes(bytes(2048 * 512) + image)
    device = RangeDevice(FileDevice(disk), 2048 * 512, len(image))
    assert probe_filesystem(device) == "ext4"
    assert probe_filesystem(FileDevice(disk)) is None
