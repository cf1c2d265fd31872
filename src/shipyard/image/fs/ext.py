"""ext2/ext3/ext4 behind the ``FileSource`` API, read through ``ext2py`` (MIT, pinned).

``ext2py`` parses the on-disk structures (superblock, 32/64-bit group descriptors, inodes,
extent trees, block maps, inline data, htree directories read linearly). This module only
adapts it: it feeds ext2py a ``DeviceStream`` so every read goes through the ``BlockDevice``,
resolves paths with the shared ``ResolvingSource``, and turns ext2py's errors into ``ImageFormatError``.
It calls two of ext2py's underscored methods (``_dir_entries``, ``_readlink``: by inode, where
the public ones take a path); the exact pin and the debugfs cross-check tests guard them.
"""

from __future__ import annotations

import os
import stat as stat_mod
import struct
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import BinaryIO, TypeVar, cast

from ext2py import ExtError, ExtFS, Inode

from shipyard.errors import ImageFormatError
from shipyard.image.device import BlockDevice
from shipyard.sources.resolving import ResolvingSource, missing_error, not_directory_error
from shipyard.sources.tree import DEFAULT_CHUNK_BYTES, TreeEntry, walk_depth_first
from shipyard.image.fs.signature import classify_ext
from shipyard.image.fs.stream import DeviceStream

ROOT_INODE = 2
_INODE_CACHE_SIZE = 8192
_MAX_DIRECTORY_BYTES = 256 * 1024 * 1024  # a corrupt i_size must not exhaust memory
_MAX_LINK_BYTES = 4096  # PATH_MAX
_DIRECTORY_CACHE_SIZE = 1024
# where the inode keeps its times: (seconds, the "extra" word: epoch bits and nanoseconds)
_ATIME_OFFSETS = (8, 0x8C)
_MTIME_OFFSETS = (16, 0x88)
_EXTRA_ISIZE_OFFSET = 128

Result = TypeVar("Result")


def _time_ns(raw: bytes, offsets: tuple[int, int]) -> int:
    """An inode time in nanoseconds, as the kernel decodes it: the signed 32-bit seconds, plus the
    extra word's two epoch bits (times after 2038) and its nanoseconds (inodes over 128 bytes)."""
    seconds_offset, extra_offset = offsets
    seconds = struct.unpack_from("<i", raw, seconds_offset)[0]
    extra_end = _EXTRA_ISIZE_OFFSET + (struct.unpack_from("<H", raw, _EXTRA_ISIZE_OFFSET)[0] if len(raw) >= 130 else 0)
    if extra_offset + 4 > min(extra_end, len(raw)):
        return seconds * 1_000_000_000
    extra = struct.unpack_from("<I", raw, extra_offset)[0]
    return (seconds + ((extra & 3) << 32)) * 1_000_000_000 + min(extra >> 2, 999_999_999)


def _device_number(block: bytes) -> int:
    """A device inode's number: the old 16-bit encoding in i_block[0], else the new one in i_block[1]."""
    old, new = struct.unpack_from("<II", block, 0)
    if old:
        return os.makedev((old >> 8) & 0xFF, old & 0xFF)
    return os.makedev((new & 0xFFF00) >> 8, (new & 0xFF) | ((new >> 12) & 0xFFF00))


def _guarded(action: Callable[[], Result], what: str) -> Result:
    """Run an ext2py call, mapping its parse errors to one ``ImageFormatError`` line."""
    try:
        return action()
    except ExtError as exc:
        raise ImageFormatError(f"ext filesystem: {what}: {exc}", field="ext4") from exc
    except (struct.error, IndexError) as exc:
        raise ImageFormatError(f"ext filesystem: {what}: corrupt on-disk structure", field="ext4") from exc


class ExtSource(ResolvingSource[Inode]):
    """A read-only ext2/3/4 filesystem on a ``BlockDevice``.

    Opening reads only the superblock; inodes, directories and file blocks are read on demand
    and small metadata is cached.
    """

    def __init__(self, device: BlockDevice) -> None:
        self.device = device
        # DeviceStream has the read/seek/tell that ExtFS uses, not all of BinaryIO (no fileno, on purpose)
        self._fs = _guarded(lambda: ExtFS(cast("BinaryIO", DeviceStream(device))), "cannot open")
        superblock = self._fs.sb
        self.filesystem_type = classify_ext(
            superblock.feature_compat, superblock.feature_incompat, superblock.feature_ro_compat
        )
        self._lookup_cached = lru_cache(maxsize=_INODE_CACHE_SIZE)(self._lookup_uncached)
        self._index_directory = lru_cache(maxsize=_DIRECTORY_CACHE_SIZE)(self._index_directory_uncached)

    def __repr__(self) -> str:
        return f"ExtSource({self.filesystem_type}, {self.device.size_bytes} bytes)"

    @property
    def block_size_bytes(self) -> int:
        return self._fs.block_size

    @property
    def needs_recovery(self) -> bool:
        """True when the journal holds unreplayed writes: recent changes may be missing."""
        return self._fs.needs_recovery

    @property
    def label(self) -> str:
        return self._fs.sb.volume_name

    @property
    def uuid(self) -> str:
        return self._fs.sb.uuid_str

    # -- primitives ------------------------------------------------------------------------

    def _lookup_node(self, physical_path: str) -> Inode:
        return self._lookup_cached(physical_path)

    def _lookup_uncached(self, physical_path: str) -> Inode:
        if physical_path == "/":
            return _guarded(lambda: self._fs.root, "reading the root directory")
        parent_path, _, name = physical_path.rpartition("/")
        parent = self._lookup_node(parent_path or "/")
        if not parent.is_dir:
            raise not_directory_error(physical_path)
        number = self._index_directory(parent.ino).get(name)
        if number is None:
            raise missing_error(physical_path)
        return _guarded(lambda: self._fs.inode(number), f"reading inode {number} of {physical_path}")

    def _index_directory_uncached(self, number: int) -> dict[str, int]:
        size_bytes = _guarded(lambda: self._fs.inode(number).size, f"reading directory inode {number}")
        if size_bytes > _MAX_DIRECTORY_BYTES:
            raise ImageFormatError(f"ext filesystem: directory inode {number} claims {size_bytes} bytes", field="ext4")
        entries = _guarded(lambda: self._fs._dir_entries(number), f"reading directory inode {number}")
        return {entry.name: entry.inode for entry in entries if entry.name not in (".", "..")}

    def _read_mode(self, node: Inode) -> int:
        return node.mode

    def _read_size_bytes(self, node: Inode) -> int:
        return node.size

    def _read_link_target(self, node: Inode) -> str:
        if node.size > _MAX_LINK_BYTES:
            raise ImageFormatError(f"ext filesystem: symlink inode {node.ino} claims {node.size} bytes", field="ext4")
        return _guarded(lambda: self._fs._readlink(node), f"reading symlink inode {node.ino}").decode(
            "utf-8", errors="surrogateescape"
        )

    def _read_content(self, node: Inode) -> bytes:
        return _guarded(lambda: self._fs.read_inode_data(node), f"reading inode {node.ino}")

    def _list_names(self, node: Inode) -> list[str]:
        return list(self._index_directory(node.ino))

    # -- the whole tree (``shipyard.sources.tree``) --------------------------------------------

    def walk_tree(self) -> Iterator[TreeEntry]:
        """Every entry, ``/`` first, depth first and by name; inodes are read once each, by number."""
        return walk_depth_first(ROOT_INODE, self._tree_entry, self._tree_children, "ext filesystem")

    def _tree_entry(self, path: str, number: int) -> TreeEntry:
        node = _guarded(lambda: self._fs.inode(number), f"reading inode {number} of {path}")
        mode = node.mode
        target = self._read_link_target(node) if stat_mod.S_ISLNK(mode) else None
        is_device = stat_mod.S_ISCHR(mode) or stat_mod.S_ISBLK(mode)
        return TreeEntry(path, mode, node.size, _time_ns(node.raw, _MTIME_OFFSETS), _time_ns(node.raw, _ATIME_OFFSETS),
                         number, node.links_count, target, _device_number(node.block) if is_device else None)

    def _tree_children(self, number: int, entry: TreeEntry) -> list[tuple[str, int]]:
        return list(self._index_directory(number).items())

    def iter_content(self, entry: TreeEntry, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> Iterator[bytes]:
        """The data of the regular file ``entry`` in chunks, holes as zeros; errors as ``ImageFormatError``."""
        what = f"reading inode {entry.inode} of {entry.path}"
        node = _guarded(lambda: self._fs.inode(entry.inode), what)
        if not node.is_file:
            raise ImageFormatError(f"ext filesystem: {entry.path}: inode {entry.inode} is no longer a file",
                                   field="ext4")
        chunks = self._fs.iter_inode_data(node, chunk_bytes)
        while True:
            chunk = _guarded(lambda: next(chunks, None), what)
            if chunk is None:
                return
            yield chunk
