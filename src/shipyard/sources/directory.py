"""A ``FileSource`` over a real directory: a live node's ``/``, or a test's tree.

Symlinks are resolved by ``ResolvingSource`` against ``root``, exactly as inside an image, so an
absolute link inside a tree never escapes to the host's files.

``walk_tree`` walks one filesystem, as ``find -xdev`` does: a directory that is another mount is
an entry, but its contents are not walked (inode numbers are unique only within one filesystem).
"""

from __future__ import annotations

import os
import stat as stat_mod
from collections.abc import Iterator
from pathlib import Path

from shipyard.sources.base import normalize
from shipyard.sources.resolving import ResolvingSource
from shipyard.sources.tree import DEFAULT_CHUNK_BYTES, TreeEntry, walk_depth_first

HostNode = tuple[Path, os.stat_result]


class DirectorySource(ResolvingSource[HostNode]):
    filesystem_type = "directory"

    def __init__(self, root: str | Path = "/") -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"DirectorySource({str(self.root)!r})"

    def _lookup_node(self, physical_path: str) -> HostNode:
        host = self.root / normalize(physical_path).lstrip("/")
        return host, os.lstat(host)

    def _read_mode(self, node: HostNode) -> int:
        return node[1].st_mode

    def _read_size_bytes(self, node: HostNode) -> int:
        return node[1].st_size

    def _read_link_target(self, node: HostNode) -> str:
        return os.readlink(node[0])

    def _read_content(self, node: HostNode) -> bytes:
        return node[0].read_bytes()

    def _read_content_prefix(self, node: HostNode, length: int) -> bytes:
        with open(node[0], "rb") as file:
            return file.read(length)

    def _list_names(self, node: HostNode) -> list[str]:
        return os.listdir(node[0])

    # -- the whole tree (``shipyard.sources.tree``) --------------------------------------------

    def walk_tree(self) -> Iterator[TreeEntry]:
        """Every entry under ``root`` (``/`` is ``root`` itself), depth first and by name, on ``root``'s filesystem."""
        root = os.fspath(self.root)
        device = os.lstat(root).st_dev
        return walk_depth_first(root, self._tree_entry, lambda host, entry: self._tree_children(host, device),
                                "directory")

    @staticmethod
    def _tree_entry(path: str, host: str) -> TreeEntry:
        info = os.lstat(host)
        mode = info.st_mode
        target = os.readlink(host) if stat_mod.S_ISLNK(mode) else None
        rdev = info.st_rdev if stat_mod.S_ISCHR(mode) or stat_mod.S_ISBLK(mode) else None
        return TreeEntry(path, mode, info.st_size, info.st_mtime_ns, info.st_atime_ns, info.st_ino, info.st_nlink,
                         target, rdev)

    @staticmethod
    def _tree_children(host: str, device: int) -> list[tuple[str, str]]:
        if os.lstat(host).st_dev != device:
            return []
        with os.scandir(host) as entries:
            return [(entry.name, entry.path) for entry in entries]

    def iter_content(self, entry: TreeEntry, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> Iterator[bytes]:
        """The file's data in chunks (``O_NOFOLLOW``: a symlink put in its place is not followed)."""
        host = os.path.join(os.fspath(self.root), entry.path.lstrip("/"))
        descriptor = os.open(host, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            while True:
                chunk = os.read(descriptor, chunk_bytes)
                if not chunk:
                    return
                yield chunk
        finally:
            os.close(descriptor)
