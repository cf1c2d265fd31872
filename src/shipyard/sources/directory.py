"""A ``FileSource`` over a real directory: a live node's ``/``, or a test's tree.

Symlinks are resolved by hand against ``root`` so that an absolute link inside a tree never
escapes to the host's files.
"""

from __future__ import annotations

import os
import stat as stat_mod
from pathlib import Path

from shipyard.sources.base import MAX_SYMLINK_DEPTH, FileKind, FileStat, join_link, normalize


def _kind(mode: int) -> FileKind:
    if stat_mod.S_ISREG(mode):
        return FileKind.FILE
    if stat_mod.S_ISDIR(mode):
        return FileKind.DIRECTORY
    if stat_mod.S_ISLNK(mode):
        return FileKind.SYMLINK
    return FileKind.OTHER


class DirectorySource:
    def __init__(self, root: str | Path = "/") -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"DirectorySource({str(self.root)!r})"

    def _host(self, path: str) -> Path:
        return self.root / normalize(path).lstrip("/")

    def resolve(self, path: str) -> str:
        """The path with every symlink component resolved inside the root."""
        path = normalize(path)
        parts = [p for p in path.split("/") if p]
        resolved = "/"
        depth = 0
        while parts:
            part = parts.pop(0)
            candidate = normalize(resolved.rstrip("/") + "/" + part)
            host = self._host(candidate)
            if host.is_symlink():
                depth += 1
                if depth > MAX_SYMLINK_DEPTH:
                    raise OSError(f"too many levels of symbolic links: {path}")
                target = join_link(candidate, os.readlink(host))
                parts = [p for p in target.split("/") if p] + parts
                resolved = "/"
            else:
                resolved = candidate
        return resolved

    def exists(self, path: str) -> bool:
        try:
            self.stat(path)
        except OSError:
            return False
        return True

    def stat(self, path: str) -> FileStat:
        result = os.lstat(self._host(self.resolve(path)))
        return FileStat(_kind(result.st_mode), result.st_size, result.st_mode)

    def lstat(self, path: str) -> FileStat:
        parent, _, name = normalize(path).rpartition("/")
        host = self._host(normalize(self.resolve(parent or "/") + "/" + name))
        result = os.lstat(host)
        return FileStat(_kind(result.st_mode), result.st_size, result.st_mode)

    def read_bytes(self, path: str) -> bytes:
        return self._host(self.resolve(path)).read_bytes()

    def read_text(self, path: str) -> str:
        return self.read_bytes(path).decode("utf-8", errors="replace")

    def listdir(self, path: str) -> list[str]:
        return sorted(os.listdir(self._host(self.resolve(path))))

    def readlink(self, path: str) -> str:
        parent, _, name = normalize(path).rpartition("/")
        return os.readlink(self._host(normalize(self.resolve(parent or "/") + "/" + name)))
