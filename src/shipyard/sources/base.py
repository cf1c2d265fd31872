"""The one small read-only filesystem API that fact collectors use."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from enum import Enum
from typing import Protocol, runtime_checkable

MAX_SYMLINK_DEPTH = 40


class FileKind(str, Enum):  # noqa: UP042 - enum.StrEnum is 3.11+; node prep imports this on 3.9
    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"
    OTHER = "other"


@dataclass(frozen=True)
class FileStat:
    kind: FileKind
    size_bytes: int
    mode: int  # permission bits and file type, as st_mode


@runtime_checkable
class FileSource(Protocol):
    """Paths are absolute POSIX paths inside the source's root ("/etc/os-release").

    Symlinks are followed inside the source: an absolute target resolves against the source's
    root, never the host's. ``lstat``/``readlink`` do not follow the last component.
    Missing paths raise ``FileNotFoundError``; ``exists`` returns False instead.
    """

    def exists(self, path: str) -> bool: ...

    def stat(self, path: str) -> FileStat: ...

    def lstat(self, path: str) -> FileStat: ...

    def read_bytes(self, path: str) -> bytes: ...

    def read_text(self, path: str) -> str: ...

    def listdir(self, path: str) -> list[str]: ...

    def readlink(self, path: str) -> str: ...


def normalize(path: str) -> str:
    """An absolute, normalised POSIX path ("etc//x/../y" -> "/etc/y")."""
    return posixpath.normpath("/" + path.lstrip("/")) if path else "/"


def join_link(link_path: str, target: str) -> str:
    """Where a symlink at ``link_path`` pointing to ``target`` leads, inside the same root."""
    if target.startswith("/"):
        return normalize(target)
    return normalize(posixpath.join(posixpath.dirname(link_path), target))


MISSING = (FileNotFoundError, NotADirectoryError)


def read_head(source: FileSource, path: str, length: int) -> bytes:
    """The first ``length`` bytes of a file (fewer when it is shorter). A source that can read a
    prefix without reading the whole file (``read_prefix``: the ext reader, a directory) does; any
    other reads the file whole."""
    read_prefix = getattr(source, "read_prefix", None)
    if read_prefix is not None:
        data: bytes = read_prefix(path, length)
        return data
    return source.read_bytes(path)[:length]


def read_optional(
    source: FileSource, path: str, *, unreadable: tuple[type[OSError], ...] = MISSING
) -> str | None:
    """The file's text, or None when it is missing. ``unreadable``: the errors that mean None
    (the fact collectors let a permission error propagate, to log it; the probes pass ``OSError``:
    a ``/proc`` file they cannot read is a probe that could not run)."""
    try:
        return source.read_text(path)
    except unreadable:
        return None
