"""Builders for the filesystem tests: a source tree, real images, and the debugfs oracle.

Every image is made by the real tools (``mkfs.ext4 -d``, ``mkfs.xfs -p protofile``) from a
directory tree written here; nothing about a filesystem is mocked.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from shipyard.sources.base import FileSource

SPARSE_STRIDE_BYTES = 64 * 1024
SPARSE_CHUNKS = 400
LONG_TARGET = "/" + "x" * 70 + "/../etc/os-release"  # > 60 bytes: a slow symlink
LONG_NAME = "n" * 80 + ".txt"

# Paths that are not entries of the tree but exercise resolution; every API must answer them
# exactly as DirectorySource does over the same tree.
EXTRA_PATHS = [
    "/", "", "//etc//os-release", "/etc/../etc/./os-release", "/missing", "/etc/missing",
    "/etc/os-release/child", "/abs_link/child", "/dir_link/inner", "/dir_link/deeper/more/leaf.txt",
    "/rel_dir_link/deeper/../inner", "/loop_a/x", "/dangling/x", "/chain_1", "/d/up_link",
]


def tool(name: str) -> str:
    """The path of an e2fsprogs/xfsprogs tool, or skip when it is not installed."""
    found = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if found is None:
        pytest.skip(f"{name} is not installed")
    return found


def write_tree(root: Path) -> Path:
    """A small root filesystem covering every case the readers must handle."""
    rng = random.Random(20261122)
    (root / "etc").mkdir(parents=True)
    (root / "lost+found").mkdir(mode=0o700)  # mkfs makes one; the tree mirrors it
    (root / "etc" / "os-release").write_text('ID=debian\nVERSION_ID="12"\n')
    (root / "etc" / "debian_version").write_text("12.5\n")
    (root / "empty").write_bytes(b"")
    (root / "small_inline").write_bytes(b"hello")
    (root / "inline100").write_bytes(b"y" * 100)
    (root / "medium.bin").write_bytes(rng.randbytes(300_000))
    with open(root / "sparse.bin", "wb") as handle:  # fragmented, with holes, data at the end
        for chunk in range(SPARSE_CHUNKS):
            handle.seek(chunk * SPARSE_STRIDE_BYTES)
            handle.write(rng.randbytes(4096))
    (root / "big").mkdir()
    for index in range(600):
        (root / "big" / f"file_{index:04d}.conf").write_text(f"n={index}\n")
    (root / "d" / "deeper" / "more").mkdir(parents=True)
    (root / "d" / "inner").write_text("inner\n")
    (root / "d" / "deeper" / "more" / "leaf.txt").write_text("leaf\n")
    (root / "d" / LONG_NAME).write_text("long name\n")
    (root / "d" / "emptydir").mkdir()
    links = {
        "abs_link": "/etc/os-release",
        "rel_link": "etc/os-release",
        "dir_link": "/d",
        "rel_dir_link": "d",
        "d/up_link": "../etc/os-release",
        "long_link": LONG_TARGET,
        "long_name_link": "/d/" + LONG_NAME,
        "escape_link": "/../../../etc/os-release",
        "loop_a": "loop_b",
        "loop_b": "loop_a",
        "self_loop": "self_loop",
        "dangling": "/nonexistent/file",
        "to_dir_link": "dir_link/inner",
    }
    for index in range(45):  # a chain longer than MAX_SYMLINK_DEPTH
        links[f"chain_{index}"] = f"chain_{index + 1}"
    links["chain_45"] = "/etc/os-release"
    for name, target in links.items():
        os.symlink(target, root / name)
    return root


def make_ext_image(tree: Path, image: Path, mkfs: str, options: list[str], size: str, htree: bool) -> Path:
    subprocess.run([tool(mkfs), "-q", *options, "-d", str(tree), "-F", str(image), size], check=True)
    if htree:  # e2fsck -D rebuilds directories with hashed (htree) indexes
        result = subprocess.run([tool("e2fsck"), "-fyD", str(image)], capture_output=True)
        assert result.returncode in (0, 1), result.stderr
    return image


EXT_VARIANTS = {
    "ext4": ("mkfs.ext4", [], "16M", False),
    "ext4-4k-64bit": ("mkfs.ext4", ["-b", "4096", "-O", "64bit,metadata_csum"], "32M", False),
    "ext4-inline": ("mkfs.ext4", ["-O", "inline_data"], "16M", False),
    "ext4-blockmap": ("mkfs.ext4", ["-O", "^extent,^64bit"], "16M", False),
    "ext4-htree": ("mkfs.ext4", ["-b", "4096"], "32M", True),
    "ext3": ("mkfs.ext3", [], "16M", False),
    "ext2": ("mkfs.ext2", [], "16M", False),
    "ext2-htree": ("mkfs.ext2", [], "16M", True),
}


class Debugfs:
    """e2fsprogs' debugfs run as a subprocess on an image (optionally ``?offset=N``)."""

    def __init__(self, image: str) -> None:
        self.image = image
        self.binary = tool("debugfs")

    def run(self, request: str) -> bytes:
        return subprocess.run([self.binary, "-R", request, self.image], capture_output=True, check=True).stdout

    def cat(self, path: str) -> bytes:
        return self.run(f"cat {path}")

    def stat_text(self, path: str) -> str:
        return self.run(f"stat {path}").decode()

    def list_directories(self, directories: list[str]) -> dict[str, dict[str, tuple[int, int]]]:
        """``ls -p`` of many directories in one run: {dir: {name: (mode, size_bytes)}}."""
        script = "".join(f"ls -p {directory}\n" for directory in directories)
        result = subprocess.run(
            [self.binary, "-f", "-", self.image], input=script.encode(), capture_output=True, check=True
        )
        listings: dict[str, dict[str, tuple[int, int]]] = {}
        current = None
        for line in result.stdout.decode("utf-8", "surrogateescape").splitlines():
            if line.startswith("debugfs: ls -p "):
                current = listings.setdefault(line[len("debugfs: ls -p ") :], {})
            elif line.startswith("/") and current is not None:
                _, inode, mode, _uid, _gid, name, size, _ = line.split("/")
                if inode != "0" and name not in (".", ".."):  # inode 0: an unused slot
                    current[name] = (int(mode, 8), int(size or 0))
        return listings

    def dump(self, destination: Path) -> Path:
        """``rdump /`` into ``destination``: the oracle's copy of every file and symlink."""
        destination.mkdir(parents=True, exist_ok=True)
        self.run(f"rdump / {destination}")
        return destination


def describe(source: FileSource, method: str, path: str) -> object:
    """What one API call answers: its value, or the exception type (the contract to mirror)."""
    try:
        value = getattr(source, method)(path)
    except OSError as exc:
        return type(exc)
    if method in ("stat", "lstat") and value.kind.value == "directory":
        return (value.kind, value.mode)  # directory sizes differ between filesystems
    return value


def tree_paths(root: Path) -> list[str]:
    """Every entry of a host tree as an image path, symlinks not followed."""
    paths = []
    for directory, names, files in os.walk(root):
        for name in names + files:
            paths.append("/" + os.path.relpath(os.path.join(directory, name), root))
    return sorted(paths)


def write_protofile(tree: Path, protofile: Path) -> Path:
    """An ``mkfs.xfs -p`` prototype file describing ``tree`` (files, directories, symlinks)."""
    lines = ["/dev/null", "0 0", "d--755 0 0"]

    def describe_directory(directory: Path) -> None:
        for entry in sorted(directory.iterdir()):
            mode = entry.lstat().st_mode & 0o777
            if entry.is_symlink():
                lines.append(f"{entry.name} l--{mode:o} 0 0 {os.readlink(entry)}")
            elif entry.is_dir():
                lines.append(f"{entry.name} d--{mode:o} 0 0")
                describe_directory(entry)
                lines.append("$")
            else:
                lines.append(f"{entry.name} ---{mode:o} 0 0 {entry}")

    describe_directory(tree)
    lines.append("$")
    protofile.write_text("\n".join(lines) + "\n")
    return protofile


def make_xfs_image(tree: Path, image: Path) -> Path:
    """A 300 MiB (sparse) XFS image of ``tree``; XFS refuses smaller filesystems."""
    protofile = write_protofile(tree, image.with_suffix(".proto"))
    with open(image, "wb") as handle:
        handle.truncate(300 * 1024 * 1024)
    subprocess.run([tool("mkfs.xfs"), "-q", "-p", str(protofile), "-f", str(image)], check=True)
    return image
