"""DirectorySource: the FileSource API over a real tree; links never escape the root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shipyard.sources import DirectorySource, FileKind, FileSource


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "etc/ssh").mkdir(parents=True)
    (tmp_path / "usr/bin").mkdir(parents=True)
    (tmp_path / "etc/os-release").write_text("ID=ubuntu\n")
    (tmp_path / "usr/bin/docker").write_text("#!/bin/sh\n")
    os.symlink("usr/bin", tmp_path / "bin")  # usrmerge, relative
    os.symlink("/etc/os-release", tmp_path / "etc/abs-link")  # absolute: resolves inside the root
    os.symlink("/etc/passwd", tmp_path / "etc/host-link")  # exists on the host, not in the tree
    os.symlink("../../etc/ssh/../os-release", tmp_path / "usr/bin/rel-link")
    os.symlink("loop-b", tmp_path / "etc/loop-a")
    os.symlink("loop-a", tmp_path / "etc/loop-b")
    os.symlink("/../../../../etc/os-release", tmp_path / "etc/dotdot-link")
    return tmp_path


def test_is_a_file_source(tree: Path) -> None:
    assert isinstance(DirectorySource(tree), FileSource)


def test_reads_and_resolves_inside_the_root(tree: Path) -> None:
    source = DirectorySource(tree)
    assert source.read_text("/etc/abs-link") == "ID=ubuntu\n"
    assert source.read_text("/bin/docker") == "#!/bin/sh\n"
    assert source.read_text("/usr/bin/rel-link") == "ID=ubuntu\n"
    assert source.read_text("/etc/dotdot-link") == "ID=ubuntu\n"  # ".." stops at the root
    assert source.exists("/etc/host-link") is False
    with pytest.raises(FileNotFoundError):
        source.read_text("/etc/host-link")


def test_stat_lstat_readlink_listdir(tree: Path) -> None:
    source = DirectorySource(tree)
    assert source.stat("/bin").kind is FileKind.DIRECTORY
    assert source.lstat("/bin").kind is FileKind.SYMLINK
    assert source.readlink("/bin") == "usr/bin"
    assert source.stat("/etc/os-release").size_bytes == 10
    assert "docker" in source.listdir("/bin")
    assert source.listdir("/etc") == sorted(os.listdir(tree / "etc"))


def test_symlink_loops_raise_oserror(tree: Path) -> None:
    source = DirectorySource(tree)
    with pytest.raises(OSError, match="too many levels"):
        source.read_text("/etc/loop-a")
    assert source.exists("/etc/loop-a") is False
