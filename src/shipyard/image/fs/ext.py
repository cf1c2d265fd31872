"""ext2/ext3/ext4 behind the ``FileSource`` API, read through ``ext2py`` (MIT, pinned).

``ext2py`` parses the on-disk structures (superblock, 32/64-bit group descriptors, inodes,
extent trees, block maps, inline data, htree directories read linearly). This module only
adapts it: it feeds ext2py a ``DeviceStream`` so every read goes through the ``BlockDevice``,
resolves paths with the shared ``ResolvingSource``, and turns ext2py's errors into ``ImageFormatError``.
It calls two of ext2py's underscored methods (``_dir_entries``, ``_readlink``: by inode, where
the public ones take a path); the exact pin and the debugfs cross-check tests guard them.
"""

from __future__ import annotations

import stat as stat_mod
import struct
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import BinaryIO, TypeVar, cast

from ext2py import ExtError, ExtFS, Inode
from ext2py.reader import INODE_INLINE_DATA_FL

from shipyard.errors import ImageFormatError
from shipyard.image.device import BlockDevice
from shipyard.sources.resolving import ResolvingSource, missing_error, not_directory_error
from shipyard.sources.tree import DEFAULT_CHUNK_BYTES, TreeEntry, walk_depth_first
from shipyard.image.fs.signature import classify_ext
from shipyard.image.fs.ext_tree import WalkedInode, device_number, file_data, parse_walked
from shipyard.image.fs.stream import DeviceStream

ROOT_INODE = 2
_INODE_CACHE_SIZE = 8192
_MAX_DIRECTORY_BYTES = 256 * 1024 * 1024  # a corrupt i_size must not exhaust memory
_MAX_LINK_BYTES = 4096  # PATH_MAX
_DIRECTORY_CACHE_SIZE = 1024
_INODE_WINDOW_BYTES = 64 * 1024  # the walk reads inode tables in windows this large (256 inodes of 256 bytes)
_INODE_WINDOW_CACHE_SIZE = 64
_MIN_INODE_BYTES = 128

Result = TypeVar("Result")


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
        self._inode_table = lru_cache(maxsize=None)(self._inode_table_uncached)
        self._inode_window = lru_cache(maxsize=_INODE_WINDOW_CACHE_SIZE)(self._inode_window_uncached)
        self._walked: WalkedInode | None = None  # the inode walk_tree described last, for iter_content
        self._inodes_per_group, self._inodes_count = superblock.inodes_per_group, superblock.inodes_count
        self._group_count, self._inode_bytes = superblock.group_count, superblock.inode_size
        self._block_bytes = self._fs.block_size

    def __repr__(self) -> str:
        return f"ExtSource({self.filesystem_type}, {self.device.size_bytes} bytes)"

    @property
    def block_size_bytes(self) -> int:
        return self._fs.block_size

    @property
    def used_bytes(self) -> int:
        """The bytes of its blocks in use (data and metadata): what an unpack reads, at most."""
        superblock = self._fs.sb
        return max(0, superblock.blocks_count - superblock.free_blocks_count) * self._fs.block_size

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

    def _read_content_prefix(self, node: Inode, length: int) -> bytes:
        """Only the blocks that hold the first ``length`` bytes (a kernel's header, not its 14 MB)."""
        if node.flags & INODE_INLINE_DATA_FL or length >= node.size:
            return self._read_content(node)[:length]
        what = f"reading inode {node.ino}"
        runs = _guarded(lambda: self._fs.runs(node), what)
        return b"".join(file_data(self.device.read, runs, length, self._block_bytes, max(length, 1), what))

    def _list_names(self, node: Inode) -> list[str]:
        return list(self._index_directory(node.ino))

    # -- the whole tree (``shipyard.sources.tree``) --------------------------------------------

    def walk_tree(self) -> Iterator[TreeEntry]:
        """Every entry, ``/`` first, depth first and by name; inodes are read once each, by number."""
        if self._inode_bytes < _MIN_INODE_BYTES:
            raise ImageFormatError(f"ext filesystem: inodes of {self._inode_bytes} bytes", field="ext4")
        return walk_depth_first(ROOT_INODE, self._tree_entry, self._tree_children, "ext filesystem")

    def _tree_entry(self, path: str, number: int) -> TreeEntry:
        node = self._tree_inode(number, path)
        mode = node.mode
        target = self._read_link_target(self._full_inode(node, path)) if stat_mod.S_ISLNK(mode) else None
        is_device = stat_mod.S_ISCHR(mode) or stat_mod.S_ISBLK(mode)
        self._walked = node
        return TreeEntry(path, mode, node.size, node.mtime_ns, node.atime_ns, number, node.links_count, target,
                         device_number(node.block) if is_device else None)

    def _tree_children(self, number: int, entry: TreeEntry) -> list[tuple[str, int]]:
        return list(self._index_directory(number).items())

    def _tree_inode(self, number: int, path: str) -> WalkedInode:
        """What the walk needs of inode ``number``, from a cached window of its inode table."""
        group, index = divmod(number - 1, self._inodes_per_group)
        if not 1 <= number <= self._inodes_count or group >= self._group_count:
            raise ImageFormatError(f"ext filesystem: {path}: inode number {number} out of range", field="ext4")
        position = self._inode_table(group) * self._block_bytes + index * self._inode_bytes
        start = position - position % _INODE_WINDOW_BYTES
        raw = self._inode_window(start)[position - start : position - start + self._inode_bytes]
        if len(raw) != self._inode_bytes:
            raise ImageFormatError(f"ext filesystem: {path}: inode {number} lies past the end of the device",
                                   field="ext4")
        return parse_walked(number, raw)

    def _full_inode(self, node: WalkedInode, path: str) -> Inode:
        return _guarded(lambda: Inode.parse(node.ino, node.raw, self._fs.sb), f"reading inode {node.ino} of {path}")

    def _inode_table_uncached(self, group: int) -> int:
        return _guarded(lambda: self._fs._inode_table(group), f"reading group descriptor {group}")

    def _inode_window_uncached(self, start: int) -> bytes:
        return self.device.read(start, _INODE_WINDOW_BYTES)

    def iter_content(self, entry: TreeEntry, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> Iterator[bytes]:
        """The data of the regular file ``entry`` in chunks, holes as zeros; errors as ``ImageFormatError``.

        ext2py maps the blocks (``runs``: it reads only ``flags``, ``block`` and ``size``, which a
        ``WalkedInode`` has); the data is read straight from the device.
        """
        walked = self._walked
        node = walked if walked is not None and walked.ino == entry.inode else self._tree_inode(entry.inode,
                                                                                                  entry.path)
        if not stat_mod.S_ISREG(node.mode):
            raise ImageFormatError(f"ext filesystem: {entry.path}: inode {entry.inode} is not a file", field="ext4")
        what = f"reading inode {entry.inode} of {entry.path}"
        if node.flags & INODE_INLINE_DATA_FL:
            inode = self._full_inode(node, entry.path)
            return iter((_guarded(lambda: self._fs.read_inode_data(inode), what),))
        runs = _guarded(lambda: self._fs.runs(cast(Inode, node)), what)
        size_bytes, block_bytes = node.size, self._block_bytes
        if len(runs) == 1 and size_bytes <= chunk_bytes:  # most files: one read, no generator
            run = runs[0]
            if run.logical == 0 and not run.uninit and size_bytes <= run.length * block_bytes:
                data = self.device.read(run.physical * block_bytes, size_bytes)
                if len(data) == size_bytes:
                    return iter((data,))
        return file_data(self.device.read, runs, size_bytes, block_bytes, chunk_bytes, what)
