"""ext2/3/4 through ``open_filesystem``, cross-checked entry by entry against debugfs."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess

import pytest
from image.fs.fs_builders import EXT_VARIANTS, LONG_TARGET, make_ext_image, tool

from shipyard.errors import ImageFormatError
from shipyard.image.device import FileDevice, RangeDevice
from shipyard.image.fs import open_filesystem
from shipyard.image.fs.ext import ExtSource
from shipyard.sources.resolving import kind_of_mode
from shipyard.sources.base import FileKind
from shipyard.sources.directory import DirectorySource

VARIANTS = sorted(EXT_VARIANTS)
EXPECTED_TYPE = {"ext2": "ext2", "ext2-htree": "ext2", "ext3": "ext3"}


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_entry_matches_debugfs(variant, ext_images, debugfs, source_tree, tmp_path):
    image = ext_images(variant)
    oracle = debugfs(image)
    dump = oracle.dump(tmp_path / "dump")
    source = open_filesystem(FileDevice(image))
    assert isinstance(source, ExtSource)
    assert source.filesystem_type == EXPECTED_TYPE.get(variant, "ext4")
    pending, checked = ["/"], 0
    while pending:
        listings = oracle.list_directories(pending)
        pending = []
        for directory, entries in listings.items():
            assert source.listdir(directory) == sorted(entries), directory
            for name, (mode, size_bytes) in entries.items():
                path = directory.rstrip("/") + "/" + name
                info = source.lstat(path)
                assert (info.mode, info.kind) == (mode, kind_of_mode(mode)), path
                host = dump / path.lstrip("/")
                if stat.S_ISREG(mode):
                    assert info.size_bytes == size_bytes, path
                    # debugfs pads inline-data files shorter than 60 bytes: cut at the inode size
                    data = source.read_bytes(path)
                    assert data == host.read_bytes()[:size_bytes], path
                    assert data == (source_tree / path.lstrip("/")).read_bytes(), path
                elif stat.S_ISLNK(mode):
                    target = source.readlink(path)
                    assert target == os.readlink(host) == os.readlink(source_tree / path.lstrip("/")), path
                    assert info.size_bytes == size_bytes == len(target.encode()), path
                elif stat.S_ISDIR(mode):
                    pending.append(path)
                checked += 1
    assert checked > 600


@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_exercises_its_feature(variant, ext_images, debugfs):
    """Each image really holds the structure its name promises."""
    oracle = debugfs(ext_images(variant))
    sparse = oracle.stat_text("/sparse.bin")
    if "blockmap" in variant or variant.startswith(("ext2", "ext3")):
        assert "(DIND)" in sparse and "EXTENTS" not in sparse
    else:
        levels = {line.split()[0] for line in oracle.run("ex /sparse.bin").decode().splitlines()[1:] if line}
        assert len(levels) >= 2, "extent tree of depth > 0 expected"
    assert "Fast link dest" in oracle.stat_text("/abs_link")
    long_link = oracle.stat_text("/long_link")
    if "inline" in variant:  # a long target lives in the inode body and its system.data xattr
        assert "Flags: 0x10000000" in long_link
    else:
        assert "Fast link dest" not in long_link
    if "inline" in variant:
        assert "Flags: 0x10000000" in oracle.stat_text("/small_inline")
        assert "Flags: 0x10000000" in oracle.stat_text("/d/deeper")
        assert "Size of inline data: " in oracle.stat_text("/inline100")
    if "htree" in variant:
        flags = int(oracle.stat_text("/big").split("Flags: ")[1].split()[0], 16)
        assert flags & 0x1000, "hashed directory expected"


@pytest.mark.parametrize("variant", ["ext4", "ext4-inline", "ext2-htree"])
def test_mirrors_directory_source(variant, ext_images, source_tree, mirror_paths, assert_mirrors_directory):
    source = open_filesystem(FileDevice(ext_images(variant)))
    assert assert_mirrors_directory(source, DirectorySource(source_tree), mirror_paths) > 4000


CASES = [
    ("read_text", "/abs_link", 'ID=debian\nVERSION_ID="12"\n'),
    ("read_text", "/rel_link", 'ID=debian\nVERSION_ID="12"\n'),
    ("read_text", "/long_link", 'ID=debian\nVERSION_ID="12"\n'),
    ("read_text", "/escape_link", 'ID=debian\nVERSION_ID="12"\n'),
    ("read_text", "/d/up_link", 'ID=debian\nVERSION_ID="12"\n'),
    ("read_text", "/dir_link/deeper/more/leaf.txt", "leaf\n"),
    ("read_text", "/chain_6", 'ID=debian\nVERSION_ID="12"\n'),
    ("readlink", "/long_link", LONG_TARGET),
    ("readlink", "/dir_link", "/d"),
    ("listdir", "/dir_link", ["deeper", "emptydir", "inner", "n" * 80 + ".txt", "up_link"]),
    ("listdir", "/d/emptydir", []),
    ("read_bytes", "/empty", b""),
    ("exists", "/loop_a", False),
    ("exists", "/dangling", False),
    ("exists", "/chain_0", False),
    ("lstat", "/loop_a", (FileKind.SYMLINK, 6)),
    ("stat", "/dir_link", (FileKind.DIRECTORY, None)),
]
ERRORS = [
    ("stat", "/loop_a", OSError),
    ("stat", "/self_loop", OSError),
    ("read_bytes", "/chain_0", OSError),
    ("read_bytes", "/chain_5", OSError),  # 41 links; /chain_6 (40) still resolves
    ("read_bytes", "/dangling", FileNotFoundError),
    ("read_bytes", "/missing", FileNotFoundError),
    ("read_bytes", "/d", IsADirectoryError),
    ("listdir", "/etc/os-release", NotADirectoryError),
    ("stat", "/etc/os-release/x", NotADirectoryError),
    ("readlink", "/etc/os-release", OSError),
    ("readlink", "/missing", FileNotFoundError),
]


@pytest.mark.parametrize("method,path,expected", CASES)
def test_api_answers(method, path, expected, ext_images):
    source = open_filesystem(FileDevice(ext_images("ext4")))
    value = getattr(source, method)(path)
    if method in ("stat", "lstat"):
        value = (value.kind, value.size_bytes if expected[1] is not None else None)
    assert value == expected


@pytest.mark.parametrize("method,path,error", ERRORS)
def test_api_errors(method, path, error, ext_images):
    source = open_filesystem(FileDevice(ext_images("ext4")))
    with pytest.raises(error):
        getattr(source, method)(path)


def test_reads_at_an_offset_inside_a_bigger_file(ext_images, debugfs, tmp_path):
    """A partition: the filesystem starts 1 MiB into a disk, with other bytes after it."""
    image = ext_images("ext4-4k-64bit").read_bytes()
    disk = tmp_path / "disk.raw"
    start = 1024 * 1024
    disk.write_bytes(b"\xa5" * start + image + b"\x5a" * 65536)
    oracle = debugfs(f"{disk}?offset={start}")
    source = open_filesystem(RangeDevice(FileDevice(disk), start, len(image)))
    for path in ("/etc/os-release", "/medium.bin", "/sparse.bin", "/big/file_0599.conf"):
        assert source.read_bytes(path) == oracle.cat(path)
    assert source.listdir("/big") == sorted(oracle.list_directories(["/big"])["/big"])


def test_reads_are_lazy_and_never_write(source_tree, tmp_path):
    """Opening a 256 MiB image and reading 50 files touches well under 1% of it."""
    image = tmp_path / "large.img"

    make_ext_image(source_tree, image, "mkfs.ext4", ["-b", "4096"], "256M", False)
    before = hashlib.sha256(image.read_bytes()).hexdigest()
    device = FileDevice(image)
    source = open_filesystem(device)
    names = source.listdir("/big")[:48]
    contents = [source.read_text(f"/big/{name}") for name in names]
    contents += [source.read_text("/etc/os-release"), source.read_text("/abs_link")]
    assert len(contents) == 50 and contents[0] == "n=0\n"
    assert device.bytes_read < device.size_bytes // 200, device.bytes_read
    device.close()
    assert hashlib.sha256(image.read_bytes()).hexdigest() == before


def test_truncated_filesystem_is_an_image_format_error(ext_images):
    device = FileDevice(ext_images("ext4-4k-64bit"))
    source = open_filesystem(RangeDevice(device, 0, 4096))  # superblock only
    with pytest.raises(ImageFormatError, match="short read"):
        source.listdir("/")


def test_unsupported_ext_feature_is_named(tmp_path):

    journal = tmp_path / "journal.img"


    subprocess.run([tool("mkfs.ext4"), "-q", "-O", "journal_dev", "-F", str(journal), "4M"], check=True)
    with pytest.raises(ImageFormatError, match="journal_dev"):
        open_filesystem(FileDevice(journal))


def test_corrupt_sizes_fail_cleanly(ext_images, tmp_path):
    """Inode sizes set absurdly high (with debugfs -w on a copy) give an error, not an OOM."""
    image = tmp_path / "corrupt.img"
    image.write_bytes(ext_images("ext4").read_bytes())
    for path in ("/big", "/medium.bin", "/long_link"):
        subprocess.run([tool("debugfs"), "-w", "-R", f"sif {path} size 0x7fffffffff", str(image)], check=True)
    source = open_filesystem(FileDevice(image))
    with pytest.raises(ImageFormatError, match="claims"):
        source.listdir("/big")
    with pytest.raises(OSError, match="too large"):
        source.read_bytes("/medium.bin")
    with pytest.raises(ImageFormatError, match="claims"):
        source.readlink("/long_link")
    assert source.read_text("/etc/os-release").startswith("ID=debian")
