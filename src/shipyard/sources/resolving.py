"""The one path-resolution algorithm behind every ``FileSource``: a host directory or an image.

A source supplies a few primitives over *physical* paths (no symlink in any component but
perhaps the last, which is never followed). This base class turns them into the
``FileSource`` API: symlinks resolve inside the source, an absolute target against the source's
root (never the host's), and more than ``MAX_SYMLINK_DEPTH`` links raise ``OSError``.
"""

from __future__ import annotations

import errno
import stat as stat_mod
from typing import Generic, TypeVar

from shipyard.sources.base import MAX_SYMLINK_DEPTH, FileKind, FileStat, join_link, normalize

Node = TypeVar("Node")

# A corrupt (or huge sparse) inode must not make ``read_bytes`` allocate gigabytes of zeros.
MAX_READ_BYTES = 512 * 1024 * 1024


def kind_of_mode(mode: int) -> FileKind:
    """The ``FileKind`` of an ``st_mode`` value."""
    if stat_mod.S_ISREG(mode):
        return FileKind.FILE
    if stat_mod.S_ISDIR(mode):
        return FileKind.DIRECTORY
    if stat_mod.S_ISLNK(mode):
        return FileKind.SYMLINK
    return FileKind.OTHER


def missing_error(path: str) -> FileNotFoundError:
    return FileNotFoundError(errno.ENOENT, "No such file or directory", path)


def not_directory_error(path: str) -> NotADirectoryError:
    return NotADirectoryError(errno.ENOTDIR, "Not a directory", path)


class ResolvingSource(Generic[Node]):
    """A read-only ``FileSource`` built on a reader's node primitives."""

    filesystem_type = "unknown"

    # -- primitives a reader implements ------------------------------------------------------

    def _lookup_node(self, physical_path: str) -> Node:
        """The node at a path with no symlinks before its last component (not followed).

        Raises ``FileNotFoundError``, or ``NotADirectoryError`` when a parent is not a directory.
        """
        raise NotImplementedError

    def _read_mode(self, node: Node) -> int:
        """The node's ``st_mode`` (type and permission bits)."""
        raise NotImplementedError

    def _read_size_bytes(self, node: Node) -> int:
        raise NotImplementedError

    def _read_link_target(self, node: Node) -> str:
        raise NotImplementedError

    def _read_content(self, node: Node) -> bytes:
        """The whole content of a file node; holes read as zeros."""
        raise NotImplementedError

    def _list_names(self, node: Node) -> list[str]:
        """Entry names of a directory node, without ``.`` and ``..``."""
        raise NotImplementedError

    def _read_content_prefix(self, node: Node, length: int) -> bytes:
        """The first ``length`` bytes of a file node; a reader that can, reads only those."""
        return self._read_content(node)[:length]

    # -- the FileSource API -----------------------------------------------------------------

    def _is_symlink(self, physical_path: str) -> bool:
        try:
            node = self._lookup_node(physical_path)
        except (FileNotFoundError, NotADirectoryError):
            return False
        return stat_mod.S_ISLNK(self._read_mode(node))

    def resolve(self, path: str) -> str:
        """The path with every symlink component resolved inside the source."""
        path = normalize(path)
        parts = [p for p in path.split("/") if p]
        resolved = "/"
        depth = 0
        while parts:
            part = parts.pop(0)
            candidate = normalize(resolved.rstrip("/") + "/" + part)
            if self._is_symlink(candidate):
                depth += 1
                if depth > MAX_SYMLINK_DEPTH:
                    raise OSError(errno.ELOOP, f"too many levels of symbolic links: {path}")
                target = join_link(candidate, self._read_link_target(self._lookup_node(candidate)))
                parts = [p for p in target.split("/") if p] + parts
                resolved = "/"
            else:
                resolved = candidate
        return resolved

    def _unfollowed(self, path: str) -> str:
        parent, _, name = normalize(path).rpartition("/")
        return normalize(self.resolve(parent or "/") + "/" + name)

    def _stat_node(self, node: Node) -> FileStat:
        mode = self._read_mode(node)
        return FileStat(kind_of_mode(mode), self._read_size_bytes(node), mode)

    def exists(self, path: str) -> bool:
        try:
            self.stat(path)
        except OSError:
            return False
        return True

    def stat(self, path: str) -> FileStat:
        return self._stat_node(self._lookup_node(self.resolve(path)))

    def lstat(self, path: str) -> FileStat:
        return self._stat_node(self._lookup_node(self._unfollowed(path)))

    def read_bytes(self, path: str) -> bytes:
        resolved = self.resolve(path)
        node = self._lookup_node(resolved)
        if stat_mod.S_ISDIR(self._read_mode(node)):
            raise IsADirectoryError(errno.EISDIR, "Is a directory", resolved)
        size_bytes = self._read_size_bytes(node)
        if size_bytes > MAX_READ_BYTES:
            raise OSError(errno.EFBIG, f"file too large to read whole ({size_bytes} bytes)", resolved)
        return self._read_content(node)

    def read_prefix(self, path: str, length: int) -> bytes:
        """The first ``length`` bytes of the file (``sources.base.read_head``)."""
        resolved = self.resolve(path)
        node = self._lookup_node(resolved)
        if stat_mod.S_ISDIR(self._read_mode(node)):
            raise IsADirectoryError(errno.EISDIR, "Is a directory", resolved)
        return self._read_content_prefix(node, length)

    def read_text(self, path: str) -> str:
        return self.read_bytes(path).decode("utf-8", errors="replace")

    def listdir(self, path: str) -> list[str]:
        resolved = self.resolve(path)
        node = self._lookup_node(resolved)
        if not stat_mod.S_ISDIR(self._read_mode(node)):
            raise not_directory_error(resolved)
        return sorted(self._list_names(node))

    def readlink(self, path: str) -> str:
        physical = self._unfollowed(path)
        node = self._lookup_node(physical)
        if not stat_mod.S_ISLNK(self._read_mode(node)):
            raise OSError(errno.EINVAL, "Invalid argument", physical)
        return self._read_link_target(node)
