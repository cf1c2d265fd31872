"""XFS behind the ``FileSource`` API, read through libfsxfs' Python binding (LGPL, optional).

``pyfsxfs`` comes with the optional extra ``shipyard[xfs]`` and is imported only here, when
an XFS filesystem is opened. Its by-name lookup (``get_sub_file_entry_by_name``) is broken,
so every node is looked up by its full path.

Times: ``get_*_time_as_integer`` answer nanoseconds since the Unix epoch (checked against
``xfs_db`` and the tree's own times, whatever pyfsxfs' docstring says), for the "bigtime" inodes
of today's mkfs.xfs and for classic ones alike; only a classic time before 1970 comes back as
``seconds * 10**9 - nanoseconds``, which :func:`decode_time_ns` corrects.
"""

from __future__ import annotations

import os
import stat as stat_mod
import struct
from collections.abc import Callable, Iterator
from functools import lru_cache, partial
from typing import Any, TypeVar

from shipyard.errors import ImageFormatError
from shipyard.image.device import BlockDevice
from shipyard.sources.resolving import ResolvingSource, missing_error, not_directory_error
from shipyard.image.fs.stream import DeviceStream
from shipyard.sources.tree import DEFAULT_CHUNK_BYTES, TreeEntry, walk_depth_first

XFS_EXTRA_MESSAGE = "XFS support needs the optional extra: pip install 'shipyard[xfs]'"
_ENTRY_CACHE_SIZE = 8192
_S_IFMT = 0o170000
_S_IFDIR = 0o040000
_SB_VERSION_OFFSET = 100
_SB_FEATURES_INCOMPAT_OFFSET = 216
_INCOMPAT_BIGTIME = 0x8
_NS = 1_000_000_000


def decode_time_ns(value: int, bigtime: bool) -> int:
    """pyfsxfs' integer time as nanoseconds since the epoch.

    A classic (not bigtime) timestamp before 1970 is answered as ``seconds * 10**9 - nanoseconds``
    where the kernel means ``seconds * 10**9 + nanoseconds``.
    """
    if bigtime or value >= 0:
        return value
    seconds, nanoseconds = divmod(-value, _NS)
    return -seconds * _NS + nanoseconds

Result = TypeVar("Result")


def _guarded(action: Callable[[], Result], what: str) -> Result:
    """Run a pyfsxfs call, mapping its errors (plain ``OSError``) to ``ImageFormatError``."""
    try:
        return action()
    except OSError as exc:
        raise ImageFormatError(f"xfs filesystem: {what}: {exc}", field="xfs") from exc


def import_pyfsxfs() -> Any:
    """The ``pyfsxfs`` module, or a clear error naming the extra to install."""
    try:
        import pyfsxfs
    except ImportError as exc:
        raise ImageFormatError(XFS_EXTRA_MESSAGE, field="filesystem", hint="or convert the image to ext4") from exc
    return pyfsxfs


class XfsSource(ResolvingSource[Any]):
    """A read-only XFS filesystem on a ``BlockDevice``; nodes are ``pyfsxfs.file_entry``."""

    filesystem_type = "xfs"

    def __init__(self, device: BlockDevice) -> None:
        pyfsxfs = import_pyfsxfs()
        self.device = device
        self._stream = DeviceStream(device)
        self._volume = pyfsxfs.volume()
        _guarded(lambda: self._volume.open_file_object(self._stream), "cannot open")
        self._lookup_cached = lru_cache(maxsize=_ENTRY_CACHE_SIZE)(self._lookup_uncached)
        version = struct.unpack(">H", device.read(_SB_VERSION_OFFSET, 2))[0] & 0xF
        incompat = struct.unpack(">I", device.read(_SB_FEATURES_INCOMPAT_OFFSET, 4))[0]
        self.bigtime = version == 5 and bool(incompat & _INCOMPAT_BIGTIME)
        self._walked: tuple[int, Any] | None = None  # the entry walk_tree yielded last, for iter_content

    def __repr__(self) -> str:
        return f"XfsSource({self.device.size_bytes} bytes)"

    @property
    def label(self) -> str:
        return _guarded(lambda: self._volume.get_label() or "", "reading the label")

    def close(self) -> None:
        self._volume.close()

    def _lookup_node(self, physical_path: str) -> Any:
        return self._lookup_cached(physical_path)

    def _lookup_uncached(self, physical_path: str) -> Any:
        if physical_path == "/":
            return _guarded(self._volume.get_root_directory, "reading the root directory")
        parent_path, _, _name = physical_path.rpartition("/")
        parent = self._lookup_node(parent_path or "/")
        if self._read_mode(parent) & _S_IFMT != _S_IFDIR:
            raise not_directory_error(physical_path)
        entry = _guarded(lambda: self._volume.get_file_entry_by_path(physical_path), f"looking up {physical_path}")
        if entry is None:
            raise missing_error(physical_path)
        return entry

    def _read_mode(self, node: Any) -> int:
        return int(node.file_mode)

    def _read_size_bytes(self, node: Any) -> int:
        return int(node.size)

    def _read_link_target(self, node: Any) -> str:
        return _guarded(lambda: node.symbolic_link_target or "", "reading a symlink")

    def _read_content(self, node: Any) -> bytes:
        size_bytes = int(node.size)
        if size_bytes == 0:
            return b""
        return _guarded(lambda: node.read_buffer_at_offset(size_bytes, 0), f"reading inode {node.inode_number}")

    def _list_names(self, node: Any) -> list[str]:
        return _guarded(lambda: [entry.name for entry in node.sub_file_entries], "listing a directory")

    # -- the whole tree (``shipyard.sources.tree``) --------------------------------------------

    def walk_tree(self) -> Iterator[TreeEntry]:
        """Every entry, ``/`` first, depth first and by name, from each directory's entries."""
        root = _guarded(self._volume.get_root_directory, "reading the root directory")
        return walk_depth_first(root, self._tree_entry, self._tree_children, "xfs filesystem")

    def _tree_entry(self, path: str, node: Any) -> TreeEntry:
        def describe() -> TreeEntry:
            mode = int(node.file_mode)
            target = (node.symbolic_link_target or "") if stat_mod.S_ISLNK(mode) else None
            is_device = stat_mod.S_ISCHR(mode) or stat_mod.S_ISBLK(mode)
            rdev = os.makedev(*node.get_device_number()) if is_device else None
            mtime_ns = decode_time_ns(node.get_modification_time_as_integer(), self.bigtime)
            atime_ns = decode_time_ns(node.get_access_time_as_integer(), self.bigtime)
            return TreeEntry(path, mode, int(node.size), mtime_ns, atime_ns, int(node.inode_number),
                             int(node.number_of_links), target, rdev)

        entry = _guarded(describe, f"reading {path}")
        self._walked = (entry.inode, node)
        return entry

    def _tree_children(self, node: Any, entry: TreeEntry) -> list[tuple[str, Any]]:
        def list_children() -> list[tuple[str, Any]]:
            children = []
            for child in node.sub_file_entries:
                try:
                    name = child.name
                except OSError as exc:
                    if "UTF-8" not in str(exc):
                        raise
                    raise ImageFormatError(
                        f"xfs filesystem: {entry.path} holds a name that is not UTF-8 (inode {child.inode_number})",
                        field="xfs", hint="pyfsxfs reads only UTF-8 names") from exc
                children.append((name, child))
            return children

        return _guarded(list_children, f"listing {entry.path}")

    def iter_content(self, entry: TreeEntry, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> Iterator[bytes]:
        """The data of the regular file ``entry`` in chunks; errors and short reads as ``ImageFormatError``."""
        what = f"reading {entry.path} (inode {entry.inode})"
        walked = self._walked
        if walked is not None and walked[0] == entry.inode:
            node = walked[1]
        else:
            node = _guarded(lambda: self._volume.get_file_entry_by_inode(entry.inode), what)
        size_bytes = _guarded(lambda: int(node.size), what)
        offset = 0
        while offset < size_bytes:
            length = min(chunk_bytes, size_bytes - offset)
            chunk = _guarded(partial(node.read_buffer_at_offset, length, offset), what)
            if not chunk:
                raise ImageFormatError(f"xfs filesystem: {what}: no data at byte {offset} of {size_bytes}", field="xfs")
            yield chunk
            offset += len(chunk)
