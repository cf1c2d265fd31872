"""read_head: a file's first bytes, without reading the rest where the source can."""

from __future__ import annotations

import os
from pathlib import Path

from shipyard.image.build import build_image
from shipyard.image.root import open_image
from shipyard.sources import DirectorySource
from shipyard.sources.base import read_head
from shipyard.sources.mounted import MountedSource


def test_ext_reads_only_the_head_of_a_large_file(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "usr").mkdir()
    (tree / "etc/os-release").write_text("ID=debian\nVERSION_ID=12\n")
    big = os.urandom(8 << 20)
    (tree / "boot").mkdir()
    (tree / "boot/vmlinuz").write_bytes(big)
    (tree / "boot/small").write_bytes(b"tiny")
    build_image(tree, tmp_path / "disk.vhd")
    with open_image(tmp_path / "disk.vhd") as image:
        before = image.disk.bytes_read
        assert read_head(image.root, "/boot/vmlinuz", 0x240) == big[:0x240]
        assert image.disk.bytes_read - before < 256 * 1024  # the inode and a block, not 8 MiB
        assert read_head(image.root, "/boot/small", 0x240) == b"tiny"
        assert read_head(image.root, "/boot/vmlinuz", 20 << 20) == big  # longer than the file: all of it
        view = MountedSource(DirectorySource(tmp_path), {"/mnt": image.root})
        assert read_head(view, "/mnt/boot/vmlinuz", 16) == big[:16]


def test_directory_source_head(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"0123456789")
    assert read_head(DirectorySource(tmp_path), "/f", 4) == b"0123"
