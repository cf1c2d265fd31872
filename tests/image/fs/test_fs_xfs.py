"""XFS through the optional ``pyfsxfs`` binding, checked against the tree the image was made from."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from image.fs.fs_builders import LONG_TARGET, make_xfs_image, tree_paths

from shipyard.errors import ImageFormatError
from shipyard.image.device import FileDevice, RangeDevice
from shipyard.image.fs import open_filesystem, probe_filesystem
from shipyard.image.fs.xfs import XFS_EXTRA_MESSAGE
from shipyard.sources.base import FileKind
from shipyard.sources.directory import DirectorySource


@pytest.fixture(scope="module")
def xfs_image(source_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_xfs_image(source_tree, tmp_path_factory.mktemp("xfs") / "root.xfs")


@pytest.fixture
def xfs_source(xfs_image: Path):
    pytest.importorskip("pyfsxfs", reason="the optional extra shipyard[xfs] is not installed")
    return open_filesystem(FileDevice(xfs_image))


def test_probe_names_xfs(xfs_image):
    assert probe_filesystem(FileDevice(xfs_image)) == "xfs"


def test_every_entry_matches_the_tree(xfs_source, source_tree):
    checked = 0
    for path in tree_paths(source_tree):
        host = source_tree / path.lstrip("/")
        info = xfs_source.lstat(path)
        if host.is_symlink():
            assert info.kind is FileKind.SYMLINK
            assert xfs_source.readlink(path) == os.readlink(host), path
        elif host.is_dir():
            assert xfs_source.listdir(path) == sorted(os.listdir(host)), path
        else:
            assert xfs_source.read_bytes(path) == host.read_bytes(), path
            assert info.size_bytes == host.stat().st_size
        assert info.mode & 0o777 == host.lstat().st_mode & 0o777, path
        checked += 1
    assert checked > 600


def test_mirrors_directory_source(xfs_source, source_tree, mirror_paths, assert_mirrors_directory):
    assert assert_mirrors_directory(xfs_source, DirectorySource(source_tree), mirror_paths) > 4000


def test_symlinks_resolve_inside_the_image(xfs_source):
    assert xfs_source.read_text("/long_link").startswith("ID=debian")
    assert xfs_source.readlink("/long_link") == LONG_TARGET
    assert xfs_source.read_text("/dir_link/deeper/more/leaf.txt") == "leaf\n"
    with pytest.raises(OSError):
        xfs_source.stat("/loop_a")


def test_reads_at_an_offset_and_lazily(xfs_image, tmp_path):
    pytest.importorskip("pyfsxfs")
    start = 1024 * 1024
    disk = tmp_path / "disk.raw"
    with open(disk, "wb") as out, open(xfs_image, "rb") as image:
        out.write(b"\xa5" * start)
        while chunk := image.read(1 << 22):
            out.write(chunk)
    device = FileDevice(disk)
    source = open_filesystem(RangeDevice(device, start, xfs_image.stat().st_size))
    texts = [source.read_text(f"/big/file_{index:04d}.conf") for index in range(48)]
    assert texts[47] == "n=47\n" and source.read_text("/abs_link").startswith("ID=debian")
    assert device.bytes_read < device.size_bytes // 100, device.bytes_read


def test_missing_extra_is_named(xfs_image, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyfsxfs", None)  # makes ``import pyfsxfs`` fail
    with pytest.raises(ImageFormatError) as caught:
        open_filesystem(FileDevice(xfs_image))
    assert str(caught.value) == XFS_EXTRA_MESSAGE
