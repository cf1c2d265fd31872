"""FAT12/16/32 through ``open_filesystem``, on images made by mkfs.fat and filled by mcopy.

Every listing is checked against ``mdir -/ -b``, every file against the tree it was copied from
(and one against ``mtype``), the volume against ``blkid``. Corruption is written into copies of
real images, at the offsets the boot sector and the directory entries give.
"""

from __future__ import annotations

import errno
import itertools
import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from image.fs.fat_builders import (
    LONG_NAME,
    MANY_FILES,
    UNICODE_NAME,
    blkid,
    make_fat_image,
    mdir_paths,
    mtools,
    mtype,
    patch,
    tool,
    write_esp_tree,
    write_fat_entry,
)

from shipyard.errors import ImageFormatError
from shipyard.image.device import FileDevice, RangeDevice
from shipyard.image.fs import open_filesystem, probe_filesystem
from shipyard.image.fs.fat import FatSource
from shipyard.image.fs.fat_layout import lfn_checksum
from shipyard.sources.base import FileKind

MIB = 1024 * 1024
# name: (FAT bits, size, extra mkfs.fat options, FAT type as Linux and blkid read it)
VARIANTS = {
    "fat12": (12, 8 * MIB, (), "FAT12"),
    "fat16": (16, 32 * MIB, (), "FAT16"),
    "fat32": (32, 40 * MIB, (), "FAT32"),
    "fat32-4k-sectors": (32, 300 * MIB, ("-S", "4096"), "FAT32"),
}


@pytest.fixture(scope="module")
def esp_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_esp_tree(tmp_path_factory.mktemp("esp") / "tree")


@pytest.fixture(scope="module")
def fat_images(esp_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    built: dict[str, Path] = {}
    directory = tmp_path_factory.mktemp("fat")

    def build(variant: str) -> Path:
        if variant not in built:
            bits, size, extra, _ = VARIANTS[variant]
            built[variant] = make_fat_image(esp_tree, directory / f"{variant}.img", bits, size, extra=extra)
        return built[variant]

    return build


@pytest.fixture
def fat32_copy(fat_images: Callable[[str], Path], tmp_path: Path) -> Path:
    return Path(shutil.copy(fat_images("fat32"), tmp_path / "copy.img"))


def walk_paths(source: FatSource, directory: str = "/") -> set[str]:
    paths: set[str] = set()
    for name in source.listdir(directory):
        path = directory.rstrip("/") + "/" + name
        if source.stat(path).kind == FileKind.DIRECTORY:
            paths.add(path + "/")
            paths |= walk_paths(source, path)
        else:
            paths.add(path)
    return paths


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_listing_matches_mdir_and_files_match_the_tree(variant: str, fat_images, esp_tree: Path) -> None:
    image = fat_images(variant)
    source = open_filesystem(FileDevice(image))
    assert isinstance(source, FatSource) and source.version == VARIANTS[variant][3]
    assert probe_filesystem(FileDevice(image)) == "vfat"
    assert walk_paths(source) == mdir_paths(image)
    checked = 0
    for top, dirs, files in os.walk(esp_tree):
        inside = "/" + os.path.relpath(top, esp_tree).removeprefix(".").lstrip("/")
        assert source.listdir(inside) == sorted(dirs + files + (["frag"] if inside == "/" else [])), inside
        for name in files:
            path, host = inside.rstrip("/") + "/" + name, os.path.join(top, name)
            with open(host, "rb") as handle:
                assert source.read_bytes(path) == handle.read(), path
            info = source.stat(path)
            assert (info.kind, info.size_bytes) == (FileKind.FILE, os.path.getsize(host)), path
            checked += 1
    assert checked == MANY_FILES + 10
    assert source.read_bytes("/frag/fragmented.bin") == mtype(image, "/frag/fragmented.bin")
    assert source.listdir("/frag") == sorted([f"f{i:02d}" for i in range(1, 40, 2)] + ["fragmented.bin"])
    assert source.read_bytes("/frag/f39") == bytes([39]) * 2048


def test_the_fragmented_file_really_is_fragmented(fat_images) -> None:
    source = FatSource(FileDevice(fat_images("fat32")))
    entry = source._lookup_node("/frag/fragmented.bin").entry
    clusters = source.chain(entry.first_cluster, "fragmented.bin")
    assert len(clusters) == -(-60_000 // source.layout.cluster_bytes)
    assert any(b != a + 1 for a, b in itertools.pairwise(clusters))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_directories_of_many_clusters(variant: str, fat_images) -> None:
    source = FatSource(FileDevice(fat_images(variant)))
    many = source._lookup_node("/many").entry
    assert len(source.chain(many.first_cluster, "/many")) > 1
    names = source.listdir("/many")
    assert names == [f"configuration-file-{index:04d}.conf" for index in range(MANY_FILES)]
    assert source.stat("/many").size_bytes % source.layout.cluster_bytes == 0
    assert source.read_text("/many/configuration-file-0299.conf") == "n=299\n"


def test_names_are_found_case_insensitively_and_by_their_8_3_alias(fat_images) -> None:
    image = fat_images("fat16")
    source = FatSource(FileDevice(image))
    expected = source.read_bytes("/EFI/BOOT/BOOTX64.EFI")
    assert source.read_bytes("/efi/boot/bootx64.efi") == expected
    assert source.read_text("/EFI/DEBIAN/GRUB.CFG").startswith("search --fs-uuid")
    assert source.listdir("/EFI/debian") == sorted(
        ["grub.cfg", "shimx64.efi", LONG_NAME, UNICODE_NAME, "Mixed.Txt", "empty", "emptydir"])
    aliases = {line.split()[0] for line in mtools("mdir", "-i", str(image), "::/EFI/debian").splitlines()
               if line.startswith("ALONGF")}
    assert aliases == {"ALONGF~1"}
    assert source.read_text("/efi/debian/alongf~1.txt") == "long\n"
    assert source.read_text(f"/EFI/debian/{UNICODE_NAME.upper()}") == "unicode\n"


def test_stat_modes_and_errors(fat_images, tmp_path: Path) -> None:
    image = Path(shutil.copy(fat_images("fat32"), tmp_path / "ro.img"))
    mtools("mattrib", "-i", str(image), "+r", "::/EFI/debian/grub.cfg")
    source = FatSource(FileDevice(image))
    assert source.stat("/EFI").mode == stat.S_IFDIR | 0o755
    assert source.stat("/EFI/BOOT/BOOTX64.EFI").mode == stat.S_IFREG | 0o755
    assert source.lstat("/EFI/debian/grub.cfg").mode == stat.S_IFREG | 0o555
    assert source.stat("/").size_bytes == source.layout.cluster_bytes
    assert source.read_bytes("/EFI/debian/empty") == b""
    assert source.listdir("/EFI/debian/emptydir") == []
    assert source.exists("/EFI/BOOT") and not source.exists("/EFI/missing")
    with pytest.raises(OSError) as caught:
        source.readlink("/EFI/debian/grub.cfg")
    assert caught.value.errno == errno.EINVAL
    with pytest.raises(IsADirectoryError):
        source.read_bytes("/EFI")
    with pytest.raises(FileNotFoundError):
        source.read_bytes("/EFI/BOOT/missing.efi")
    with pytest.raises(NotADirectoryError):
        source.listdir("/EFI/debian/grub.cfg")
    with pytest.raises(NotADirectoryError):
        source.stat("/EFI/debian/grub.cfg/x")


def test_fat16_root_directory_is_the_fixed_region(fat_images) -> None:
    source = FatSource(FileDevice(fat_images("fat16")))
    assert source.layout.root_cluster == 0 and source.layout.root_entries == 512
    assert source.stat("/").size_bytes == 512 * 32
    assert source.listdir("/") == ["EFI", "a", "frag", "many"]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_volume_id_label_and_version_agree_with_blkid(variant: str, fat_images) -> None:
    image = fat_images(variant)
    theirs = blkid(image)
    source = FatSource(FileDevice(image))
    assert (source.uuid, source.label, source.version) == (theirs["UUID"], theirs["LABEL"], theirs["VERSION"])
    assert source.uuid == "ABCD-1234" and source.label == "ESP"


def test_fat32_with_fewer_clusters_than_the_specification_wants_is_fat32_as_linux_reads_it(tmp_path: Path) -> None:
    image = tmp_path / "small.img"
    with open(image, "wb") as out:
        out.truncate(20 * MIB)
    made = subprocess.run([tool("mkfs.fat"), "-F", "32", "-i", "0000BEEF", str(image)], capture_output=True, text=True)
    assert made.returncode == 0 and "less then suggested minimum" in made.stderr + made.stdout
    source = FatSource(FileDevice(image))
    assert source.layout.cluster_count < 65525
    theirs = blkid(image)
    assert (source.version, source.uuid, source.label) == (theirs["VERSION"], theirs["UUID"], None) == (
        "FAT32", "0000-BEEF", None)
    assert "LABEL" not in theirs and source.listdir("/") == []


def test_a_partition_window_is_read_through_the_device(fat_images, tmp_path: Path) -> None:
    image = fat_images("fat12")
    disk = tmp_path / "disk.raw"
    with open(disk, "wb") as out:
        out.seek(MIB)
        out.write(image.read_bytes())
    device = FileDevice(disk)
    source = open_filesystem(RangeDevice(device, MIB, image.stat().st_size))
    before = device.bytes_read
    assert source.read_text("/a/b/c/d/leaf.txt") == "leaf\n"
    assert device.bytes_read - before < 64 * 1024  # directories and one cluster, not the volume


# -- corruption: one ImageFormatError line each ------------------------------------------------------

def _entry(image: Path, path: str):
    source = FatSource(FileDevice(image))
    return source, source._lookup_node(path).entry


def _message(image: Path, action: Callable[[FatSource], object]) -> str:
    with pytest.raises(ImageFormatError) as caught:
        action(FatSource(FileDevice(image)))
    message = str(caught.value)
    assert "\n" not in message and message.startswith("vfat filesystem: ")
    assert caught.value.field == "vfat"
    return message


@pytest.mark.parametrize("value,expected", [
    ("self", "its cluster chain loops back to cluster"),
    ("out", "outside 2-"),
    (0, "is followed by a free cluster"),
    (0x0FFFFFF7, "is followed by a bad cluster"),
])
def test_a_broken_file_chain(fat32_copy: Path, value, expected: str) -> None:
    source, entry = _entry(fat32_copy, "/EFI/BOOT/BOOTX64.EFI")
    clusters = source.chain(entry.first_cluster, "x")
    target = clusters[5]
    new = {"self": clusters[2], "out": source.layout.max_cluster + 7}.get(value, value)
    write_fat_entry(fat32_copy, source.layout.fat_offset, 32, target, int(new))
    message = _message(fat32_copy, lambda s: s.read_bytes("/EFI/BOOT/BOOTX64.EFI"))
    assert message.startswith("vfat filesystem: file /EFI/BOOT/BOOTX64.EFI: ") and expected in message


def test_a_fat12_chain_is_patched_and_read_by_its_12_bit_entries(fat_images, tmp_path: Path) -> None:
    image = Path(shutil.copy(fat_images("fat12"), tmp_path / "fat12.img"))
    source, entry = _entry(image, "/EFI/BOOT/BOOTX64.EFI")
    clusters = source.chain(entry.first_cluster, "x")
    assert len(clusters) == -(-150_000 // source.layout.cluster_bytes)
    for cluster in clusters[1:3]:  # an odd and an even entry
        write_fat_entry(image, source.layout.fat_offset, 12, cluster, cluster)
    message = _message(image, lambda s: s.read_bytes("/EFI/BOOT/BOOTX64.EFI"))
    assert f"loops back to cluster {clusters[1]}" in message


def test_a_file_longer_than_its_chain(fat32_copy: Path) -> None:
    _, entry = _entry(fat32_copy, "/EFI/debian/shimx64.efi")
    patch(fat32_copy, entry.offset + 28, (3_000_000).to_bytes(4, "little"))
    message = _message(fat32_copy, lambda s: s.read_bytes("/EFI/debian/shimx64.efi"))
    assert message.endswith("3000000 bytes need 5860 clusters, its chain has 4")


def test_a_directory_chain_that_loops(fat32_copy: Path) -> None:
    source, entry = _entry(fat32_copy, "/many")
    clusters = source.chain(entry.first_cluster, "x")
    write_fat_entry(fat32_copy, source.layout.fat_offset, 32, clusters[-1], clusters[0])
    message = _message(fat32_copy, lambda s: s.listdir("/many"))
    assert message == f"vfat filesystem: directory /many: its cluster chain loops back to cluster {clusters[0]}"


def test_a_directory_entry_without_a_cluster(fat32_copy: Path) -> None:
    _, entry = _entry(fat32_copy, "/EFI/debian")
    patch(fat32_copy, entry.offset + 20, b"\0\0")
    patch(fat32_copy, entry.offset + 26, b"\0\0")
    message = _message(fat32_copy, lambda s: s.listdir("/EFI/debian"))
    assert message == f"vfat filesystem: directory /EFI/debian: its cluster chain starts at cluster 0, outside " \
                      f"2-{FatSource(FileDevice(fat32_copy)).layout.max_cluster}"


def test_a_long_name_with_a_wrong_checksum_falls_back_on_the_8_3_name(fat32_copy: Path) -> None:
    source, entry = _entry(fat32_copy, f"/EFI/debian/{LONG_NAME}")
    stored = source.device.read(entry.offset, 11)
    checksum = lfn_checksum(stored)
    assert source.device.read(entry.offset - 32 + 13, 1)[0] == checksum  # the LFN entry just before it
    patch(fat32_copy, entry.offset - 32 + 13, bytes([checksum ^ 0x5A]))
    again = FatSource(FileDevice(fat32_copy))
    assert LONG_NAME not in again.listdir("/EFI/debian") and "ALONGF~1.TXT" in again.listdir("/EFI/debian")
    assert again.read_text("/EFI/debian/ALONGF~1.TXT") == "long\n"


def test_two_entries_with_one_name(fat32_copy: Path) -> None:
    _, entry = _entry(fat32_copy, "/EFI/debian/grub.cfg")
    _, other = _entry(fat32_copy, "/EFI/debian/shimx64.efi")
    assert other.short_name == "SHIMX64.EFI"  # an 8.3 name with the NT lower-case flags: no long-name entries
    patch(fat32_copy, other.offset, FileDevice(fat32_copy).read(entry.offset, 11) + bytes([0x20, 0x18]))
    message = _message(fat32_copy, lambda s: s.listdir("/EFI/debian"))
    assert message == "vfat filesystem: directory /EFI/debian holds two entries named 'grub.cfg'"


@pytest.mark.parametrize("offset,data,expected", [
    (510, b"\0\0", "no boot sector signature 0x55AA"),
    (11, (1000).to_bytes(2, "little"), "invalid sector size 1000"),
    (13, b"\x03", "invalid sectors per cluster 3"),
    (16, b"\0", "32 reserved sectors and 0 FATs"),
    (44, (10**8).to_bytes(4, "little"), "root cluster 100000000 out of range"),
])
def test_a_broken_boot_sector(fat32_copy: Path, offset: int, data: bytes, expected: str) -> None:
    patch(fat32_copy, offset, data)
    with pytest.raises(ImageFormatError) as caught:
        FatSource(FileDevice(fat32_copy))
    assert str(caught.value).startswith(f"vfat filesystem: {expected}")


def test_a_volume_larger_than_its_device(fat_images) -> None:
    image = fat_images("fat32")
    with pytest.raises(ImageFormatError, match=r"^vfat filesystem: the volume claims 41943040 bytes, its device has "
                                               r"1048576$"):
        open_filesystem(RangeDevice(FileDevice(image), 0, MIB))


def test_a_fat16_boot_sector_without_root_entries(fat_images, tmp_path: Path) -> None:
    image = Path(shutil.copy(fat_images("fat16"), tmp_path / "fat16.img"))
    patch(image, 17, b"\0\0")
    with pytest.raises(ImageFormatError, match=r"^vfat filesystem: a FAT12/16 volume with no root directory entries$"):
        FatSource(FileDevice(image))
