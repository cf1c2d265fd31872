"""XFS behind the ``FileSource`` API, read through libfsxfs' Python binding (LGPL, optional).

``pyfsxfs`` comes with the optional extra ``shipyard[xfs]`` and is imported only here, when
an XFS filesystem is opened. Its by-name lookup (``get_sub_file_entry_by_name``) is broken,
so every node is looked up by its full path.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

from shipyard.errors import ImageFormatError
from shipyard.image.device import BlockDevice
from shipyard.sources.resolving import ResolvingSource, missing_error, not_directory_error
from shipyard.image.fs.stream import DeviceStream

XFS_EXTRA_MESSAGE = "XFS support needs the optional extra: pip install 'shipyard[xfs]'"
_ENTRY_CACHE_SIZE = 8192
_S_IFMT = 0o170000
_S_IFDIR = 0o040000

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
