"""Unpack a root filesystem read offline (any ``TreeSource``) into a host directory: no root, no mount.

``unpack(opened.root, dest)`` writes every entry of ``walk(source)`` under ``dest``:

- regular files, their data streamed in chunks (a chunk of zeros as long as ``chunk_bytes`` is
  skipped with ``lseek``, so large holes stay holes), their mode with the setuid, setgid and
  sticky bits, and their mtime and atime to the nanosecond;
- directories, whose mode and times are set after their contents (a 0555 directory is
  written first as 0700, and its mtime is not changed again by what goes in it); a directory
  without ``u+rwx`` gets its mode only at the very end, so that hard links into it and its
  subdirectories' modes can still be set by an unprivileged user;
- symlinks, their target as stored (never resolved) and their times set on the link itself;
- hard links: a second name of an inode already written (``nlink`` > 1, same ``inode``) is
  ``link``-ed to the first name;
- device nodes, FIFOs and sockets are not made: ``UnpackReport.skipped`` lists each path with its
  kind.

Not kept: owners and groups (an unprivileged user cannot give files away, so everything belongs
to the caller), extended attributes, ACLs, file capabilities and SELinux labels. A setgid bit the
kernel refuses to an unprivileged user (the file's group is not one of the caller's) is dropped
by the kernel.

Nothing is written outside ``dest``: every entry is created relative to its parent's directory
descriptor (``mkdir``/``openat``/``symlinkat``/``linkat`` with ``dir_fd``), directories are opened with
``O_NOFOLLOW`` right after they are made, files are created with ``O_EXCL | O_NOFOLLOW``, and a
name is one path component that is neither ``.`` nor ``..`` (the walk refuses anything else). A
symlink in the image is never followed on the host, whatever its target. ``dest`` must not be
changed by anyone else while it is written.

Errors: a corrupt image gives ``ImageFormatError``; ``dest`` not new or empty gives
``UsageError``; a failure to write (no space, permission) gives ``ShipyardError`` naming the
entry. Each is one line. What was written before the error stays in ``dest``.
"""

from __future__ import annotations

import os
import stat as stat_mod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.errors import ImageFormatError, ShipyardError, UsageError
from shipyard.sources.tree import DEFAULT_CHUNK_BYTES, TreeEntry, is_safe_name, walk

Progress = Callable[[int, int], None]

PROGRESS_STEP_BYTES = 16 << 20  # progress is reported at most once per this many bytes of file data
_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_OWNER_RWX = 0o700


@dataclass(frozen=True)
class UnpackReport:
    """What ``unpack`` wrote: counts by kind, and what it skipped."""

    files: int  # regular files written (each inode once)
    directories: int  # directories, the root (``dest`` itself) included
    symlinks: int
    hardlinks: int  # further names of a file or symlink already written, made with link()
    content_bytes: int  # the regular files' data (holes included), each inode once
    skipped: tuple[tuple[str, str], ...]  # (path, kind): device nodes, FIFOs, sockets


def unpack(
    source: Any,
    dest: str | Path,
    *,
    progress: Progress | None = None,
    total_bytes: int | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> UnpackReport:
    """Write the whole tree of ``source`` (a ``TreeSource``: an image's root) into ``dest``.

    ``dest`` must not exist (its parent must) or be an empty directory. ``progress(done_bytes,
    total_bytes)`` is called every ``PROGRESS_STEP_BYTES`` of file data and once at the end;
    ``total_bytes`` is passed through as given (0 when None: unknown).
    """
    if chunk_bytes <= 0:
        raise ValueError("chunk_bytes must be positive")
    destination = Path(dest)
    base = _open_destination(destination)
    writer = _Writer(source, base, progress, total_bytes or 0, chunk_bytes)
    try:
        writer.run()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ShipyardError(f"cannot unpack {writer.current!r} into {destination}: {reason}") from exc
    finally:
        writer.close()
    return writer.report()


def _open_destination(dest: Path) -> int:
    """A descriptor of ``dest``, made now or found empty; ``UsageError`` otherwise."""
    try:
        os.mkdir(dest, _OWNER_RWX)
    except FileExistsError:
        pass
    except OSError as exc:
        raise UsageError(f"cannot create {dest}: {exc.strerror}") from exc
    try:
        descriptor = os.open(dest, _DIRECTORY_FLAGS)
    except OSError as exc:
        raise UsageError(f"{dest} is not a directory", hint="unpack into a new or an empty directory") from exc
    if os.listdir(descriptor):
        os.close(descriptor)
        raise UsageError(f"{dest} is not empty", hint="unpack into a new or an empty directory")
    return descriptor


class _Directory:
    """A directory being written: its path in the image, its open descriptor, its entry."""

    __slots__ = ("entry", "fd", "path")

    def __init__(self, path: str, fd: int, entry: TreeEntry) -> None:
        self.path, self.fd, self.entry = path, fd, entry


class _Writer:
    def __init__(self, source: Any, base: int, progress: Progress | None, total_bytes: int, chunk_bytes: int) -> None:
        self.source = source
        self.base = base  # dest, kept open to the end (hard links' first names, deferred modes)
        self.progress = progress
        self.total_bytes = total_bytes
        self.chunk_bytes = chunk_bytes
        self.zeros = bytes(chunk_bytes)
        self.stack: list[_Directory] = []  # the directories from the root to the current entry's parent
        self.first_names: dict[int, str] = {}  # inode -> the path it was first written at
        self.deferred: list[tuple[str, int]] = []  # (path, mode) of directories without u+rwx, in post-order
        self.skipped: list[tuple[str, str]] = []
        self.current = "/"
        self.files = self.directories = self.symlinks = self.hardlinks = 0
        self.done_bytes = self.reported_bytes = 0

    def report(self) -> UnpackReport:
        return UnpackReport(self.files, self.directories, self.symlinks, self.hardlinks, self.done_bytes,
                            tuple(self.skipped))

    def close(self) -> None:
        while self.stack:
            os.close(self.stack.pop().fd)
        os.close(self.base)

    # -- the walk ------------------------------------------------------------------------------

    def run(self) -> None:
        entries = walk(self.source)
        self.iter_content = self.source.iter_content  # resolved once: it is called for every file
        root = next(entries, None)
        if root is None or root.path != "/" or not stat_mod.S_ISDIR(root.mode):
            raise ImageFormatError("unpack: the tree does not start with its root directory", field="tree")
        self.stack.append(_Directory("/", os.dup(self.base), root))
        self.directories += 1
        for entry in entries:
            self.current = entry.path
            parent_path, _, name = entry.path.rpartition("/")
            parent_path = parent_path or "/"
            while self.stack and self.stack[-1].path != parent_path:
                self._finish(self.stack.pop())
            if not self.stack or not is_safe_name(name):
                raise ImageFormatError(f"unpack: {entry.path!r} does not follow its parent directory", field="tree")
            self._write(entry, name, self.stack[-1].fd)
        while self.stack:
            self._finish(self.stack.pop())
        for path, mode in self.deferred:
            self.current = path
            descriptor = self._open_directory(path)
            try:
                os.fchmod(descriptor, mode)
            finally:
                os.close(descriptor)
        if self.progress is not None:
            self.progress(self.done_bytes, self.total_bytes)

    def _write(self, entry: TreeEntry, name: str, parent: int) -> None:
        mode = entry.mode
        if stat_mod.S_ISDIR(mode):
            os.mkdir(name, _OWNER_RWX, dir_fd=parent)
            self.stack.append(_Directory(entry.path, os.open(name, _DIRECTORY_FLAGS, dir_fd=parent), entry))
            self.directories += 1
            return
        if not (stat_mod.S_ISREG(mode) or stat_mod.S_ISLNK(mode)):
            self.skipped.append((entry.path, entry.kind))
            return
        if entry.nlink > 1:
            first = self.first_names.get(entry.inode)
            if first is not None:
                self._link(first, name, parent)
                return
            self.first_names[entry.inode] = entry.path
        if stat_mod.S_ISREG(mode):
            self._file(entry, name, parent)
        else:
            self._symlink(entry, name, parent)

    def _finish(self, directory: _Directory) -> None:
        """A directory's contents are all written: its times now, its mode now or (no u+rwx) at the end."""
        entry = directory.entry
        self.current = entry.path
        try:
            mode = stat_mod.S_IMODE(entry.mode)
            if mode & _OWNER_RWX == _OWNER_RWX:
                os.fchmod(directory.fd, mode)
            else:
                self.deferred.append((entry.path, mode))
            os.utime(directory.fd, ns=(entry.atime_ns, entry.mtime_ns))
        finally:
            os.close(directory.fd)

    # -- one entry -----------------------------------------------------------------------------

    def _file(self, entry: TreeEntry, name: str, parent: int) -> None:
        descriptor = os.open(name, _FILE_FLAGS, 0o600, dir_fd=parent)
        try:
            written, hole = 0, False
            for chunk in self.iter_content(entry, self.chunk_bytes):
                length = len(chunk)
                if length == self.chunk_bytes and chunk == self.zeros:
                    os.lseek(descriptor, length, os.SEEK_CUR)
                    hole = True
                else:
                    _write_all(descriptor, chunk)
                    hole = False
                written += length
                self.done_bytes += length
                if self.progress is not None and self.done_bytes - self.reported_bytes >= PROGRESS_STEP_BYTES:
                    self.reported_bytes = self.done_bytes
                    self.progress(self.done_bytes, self.total_bytes)
            if written != entry.size_bytes:
                raise ImageFormatError(f"unpack: {entry.path!r} has {written} bytes of data where its inode says "
                                       f"{entry.size_bytes}", field="tree")
            if hole:
                os.ftruncate(descriptor, written)
            os.fchmod(descriptor, stat_mod.S_IMODE(entry.mode))
            os.utime(descriptor, ns=(entry.atime_ns, entry.mtime_ns))
        finally:
            os.close(descriptor)
        self.files += 1

    def _symlink(self, entry: TreeEntry, name: str, parent: int) -> None:
        target = entry.target
        if not target or "\0" in target:
            raise ImageFormatError(f"unpack: symlink {entry.path!r} has no usable target ({target!r})", field="tree")
        os.symlink(target, name, dir_fd=parent)
        os.utime(name, ns=(entry.atime_ns, entry.mtime_ns), dir_fd=parent, follow_symlinks=False)
        self.symlinks += 1

    def _link(self, first: str, name: str, parent: int) -> None:
        first_parent, _, first_name = first.rpartition("/")
        first_parent = first_parent or "/"
        for directory in reversed(self.stack):  # most often the same directory, or one still open
            if directory.path == first_parent:
                os.link(first_name, name, src_dir_fd=directory.fd, dst_dir_fd=parent, follow_symlinks=False)
                break
        else:
            descriptor = self._open_directory(first_parent)
            try:
                os.link(first_name, name, src_dir_fd=descriptor, dst_dir_fd=parent, follow_symlinks=False)
            finally:
                os.close(descriptor)
        self.hardlinks += 1

    def _open_directory(self, path: str) -> int:
        """A descriptor of the directory ``path`` under dest, opened one component at a time, ``O_NOFOLLOW``."""
        descriptor = os.dup(self.base)
        for part in path.split("/"):
            if not part:
                continue
            try:
                child = os.open(part, _DIRECTORY_FLAGS, dir_fd=descriptor)
            finally:
                os.close(descriptor)
            descriptor = child
        return descriptor


def _write_all(descriptor: int, data: bytes) -> None:
    written = os.write(descriptor, data)
    if written < len(data):
        view = memoryview(data)[written:]
        while view:
            view = view[os.write(descriptor, view):]
