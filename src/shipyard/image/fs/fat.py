"""FAT12/16/32 behind the ``FileSource`` API: an EFI system partition, read-only, in pure Python.

Opening reads only the boot sector (``fat_layout``). Directories are read on demand, by their
cluster chains through the FAT in use, which is itself read in cached 64 KiB windows, so a
lookup costs a few small reads. Names are looked up case-insensitively, by long name or by
8.3 alias, as Linux' vfat does; ``listdir`` answers the names as shown (long, or 8.3 with the
NT lower-case flags). FAT has no symlinks, owners or modes: directories read as 0755, files
as 0755 (0555 when read-only), as a default vfat mount shows them.

Every chain is checked: a cluster out of range, a free or bad cluster inside a chain, a loop,
a file shorter than its size, a directory over 2 MiB (65,536 entries): each is one
``ImageFormatError`` line.
"""

from __future__ import annotations

import stat as stat_mod
import struct
from dataclasses import dataclass, field
from functools import lru_cache

from shipyard.image.device import BlockDevice
from shipyard.image.fs.fat_layout import (
    ATTR_DIRECTORY,
    ATTR_READ_ONLY,
    BOOT_SECTOR_BYTES,
    DIRENT_BYTES,
    DirEntry,
    FatLayout,
    fat_error,
    parse_boot_sector,
    parse_directory,
    volume_label,
)
from shipyard.sources.resolving import ResolvingSource, missing_error, not_directory_error

_FAT_WINDOW_BYTES = 64 * 1024
_FAT_WINDOW_CACHE_SIZE = 64
_LOOKUP_CACHE_SIZE = 8192
_DIRECTORY_CACHE_SIZE = 1024
MAX_DIRECTORY_BYTES = 65536 * DIRENT_BYTES  # the FAT specification's limit, which Linux enforces
_END_OF_CHAIN = {12: 0xFF8, 16: 0xFFF8, 32: 0x0FFFFFF8}
_ROOT_KEY = -1


@dataclass(frozen=True)
class FatNode:
    """A directory entry and the path it was found at (for messages)."""

    path: str
    entry: DirEntry = field(compare=False)


@dataclass(frozen=True)
class _Listing:
    by_key: dict[str, DirEntry]  # lower-cased long names, then 8.3 aliases not already taken
    names: list[str]
    label: bytes | None
    size_bytes: int


class FatSource(ResolvingSource[FatNode]):
    """A read-only FAT12/16/32 filesystem on a ``BlockDevice``."""

    filesystem_type = "vfat"

    def __init__(self, device: BlockDevice) -> None:
        self.device = device
        self.layout: FatLayout = parse_boot_sector(device.read(0, BOOT_SECTOR_BYTES), device.size_bytes)
        self._root = FatNode("/", DirEntry("", "", ATTR_DIRECTORY, self.layout.root_cluster, 0, 0))
        self._lookup_cached = lru_cache(maxsize=_LOOKUP_CACHE_SIZE)(self._lookup_uncached)
        self._fat_window = lru_cache(maxsize=_FAT_WINDOW_CACHE_SIZE)(self._fat_window_uncached)
        self._listings: dict[int, _Listing] = {}

    def __repr__(self) -> str:
        return f"FatSource({self.layout.version}, {self.layout.total_bytes} bytes)"

    @property
    def version(self) -> str:
        """"FAT12", "FAT16" or "FAT32", as blkid's VERSION says."""
        return self.layout.version

    @property
    def uuid(self) -> str:
        """The volume ID as blkid prints it: "ABCD-1234"."""
        return self.layout.uuid

    @property
    def label(self) -> str | None:
        """The label as blkid reports it: the root directory's label entry, else the boot sector's."""
        found = self._listing(self._root).label
        return volume_label(found) or volume_label(self.layout.boot_label)

    # -- the FAT -------------------------------------------------------------------------------

    def _fat_window_uncached(self, start: int) -> bytes:
        length = min(_FAT_WINDOW_BYTES, self.layout.fat_bytes - start)
        data = self.device.read(self.layout.fat_offset + start, length)
        if len(data) != length:
            raise fat_error("the FAT lies past the end of the device", self.layout.fat_offset + start)
        return data

    def _fat_bytes(self, offset: int, length: int) -> bytes:
        start = offset - offset % _FAT_WINDOW_BYTES
        data = self._fat_window(start)[offset - start : offset - start + length]
        if len(data) < length:  # an entry across two windows (FAT12)
            data += self._fat_window(start + _FAT_WINDOW_BYTES)[: length - len(data)]
        return data

    def fat_entry(self, cluster: int) -> int:
        """The FAT's value for ``cluster`` (the next cluster, 0 when free, or an end-of-chain mark)."""
        bits = self.layout.fat_bits
        if bits == 32:
            return int(struct.unpack("<I", self._fat_bytes(cluster * 4, 4))[0]) & 0x0FFFFFFF
        if bits == 16:
            return int(struct.unpack("<H", self._fat_bytes(cluster * 2, 2))[0])
        value = int(struct.unpack("<H", self._fat_bytes(cluster + cluster // 2, 2))[0])
        return value >> 4 if cluster & 1 else value & 0xFFF

    def chain(self, first: int, what: str, limit: int | None = None) -> list[int]:
        """The clusters of the chain from ``first``: to its end, or its first ``limit`` clusters."""
        layout = self.layout
        end = _END_OF_CHAIN[layout.fat_bits]
        clusters: list[int] = []
        seen: set[int] = set()
        cluster = first
        while True:
            if not 2 <= cluster <= layout.max_cluster:
                where = "starts at" if not clusters else f"goes from cluster {clusters[-1]} to"
                raise fat_error(f"{what}: its cluster chain {where} cluster {cluster}, outside 2-{layout.max_cluster}")
            if cluster in seen:
                raise fat_error(f"{what}: its cluster chain loops back to cluster {cluster}")
            seen.add(cluster)
            clusters.append(cluster)
            if len(clusters) == limit:
                return clusters
            following = self.fat_entry(cluster)
            if following >= end:
                return clusters
            if following == end - 1:
                raise fat_error(f"{what}: cluster {cluster} of its chain is followed by a bad cluster")
            if following == 0:
                raise fat_error(f"{what}: cluster {cluster} of its chain is followed by a free cluster")
            cluster = following

    def _read_clusters(self, clusters: list[int], length: int, what: str) -> bytes:
        """``length`` bytes from ``clusters`` in order, one device read per contiguous run."""
        cluster_bytes = self.layout.cluster_bytes
        pieces: list[bytes] = []
        index, remaining = 0, length
        while remaining > 0:
            stop = index + 1
            while stop < len(clusters) and clusters[stop] == clusters[stop - 1] + 1:
                stop += 1
            run_bytes = min((stop - index) * cluster_bytes, remaining)
            offset = self.layout.cluster_offset(clusters[index])
            data = self.device.read(offset, run_bytes)
            if len(data) != run_bytes:
                raise fat_error(f"{what}: cluster {clusters[index]} lies past the end of the device", offset)
            pieces.append(data)
            remaining -= run_bytes
            index = stop
        return b"".join(pieces)

    # -- directories ---------------------------------------------------------------------------

    def _listing(self, node: FatNode) -> _Listing:
        key = _ROOT_KEY if node is self._root else node.entry.first_cluster
        listing = self._listings.get(key)
        if listing is None:
            if len(self._listings) >= _DIRECTORY_CACHE_SIZE:
                self._listings.clear()
            listing = self._listings[key] = self._read_listing(node)
        return listing

    def _read_listing(self, node: FatNode) -> _Listing:
        layout = self.layout
        what = f"directory {node.path}"
        if node is self._root and layout.fat_bits != 32:
            size_bytes, offset = layout.root_entries * DIRENT_BYTES, layout.root_offset
            data = self.device.read(offset, size_bytes)
            if len(data) != size_bytes:
                raise fat_error(f"{what} lies past the end of the device", offset)
        else:
            most = -(-MAX_DIRECTORY_BYTES // layout.cluster_bytes)
            clusters = self.chain(node.entry.first_cluster, what, most + 1)
            if len(clusters) > most:
                raise fat_error(f"{what} is over {MAX_DIRECTORY_BYTES} bytes ({MAX_DIRECTORY_BYTES // DIRENT_BYTES} "
                                "entries), the most FAT allows")
            size_bytes, offset = len(clusters) * layout.cluster_bytes, layout.cluster_offset(clusters[0])
            data = self._read_clusters(clusters, size_bytes, what)
        entries, label = parse_directory(data, offset, layout.fat_bits == 32)
        by_key: dict[str, DirEntry] = {}
        for entry in entries:
            key = entry.name.lower()
            if key in by_key:
                raise fat_error(f"{what} holds two entries named {entry.name!r}", entry.offset)
            by_key[key] = entry
        for entry in entries:
            by_key.setdefault(entry.short_name.lower(), entry)
        return _Listing(by_key, [entry.name for entry in entries], label, size_bytes)

    # -- the ResolvingSource primitives ---------------------------------------------------------

    def _lookup_node(self, physical_path: str) -> FatNode:
        return self._lookup_cached(physical_path)

    def _lookup_uncached(self, physical_path: str) -> FatNode:
        if physical_path == "/":
            return self._root
        parent_path, _, name = physical_path.rpartition("/")
        parent = self._lookup_node(parent_path or "/")
        if not parent.entry.is_directory:
            raise not_directory_error(physical_path)
        entry = self._listing(parent).by_key.get(name.lower())
        if entry is None:
            raise missing_error(physical_path)
        return FatNode(physical_path, entry)

    def _read_mode(self, node: FatNode) -> int:
        if node.entry.is_directory:
            return stat_mod.S_IFDIR | 0o755
        return stat_mod.S_IFREG | (0o555 if node.entry.attributes & ATTR_READ_ONLY else 0o755)

    def _read_size_bytes(self, node: FatNode) -> int:
        return self._listing(node).size_bytes if node.entry.is_directory else node.entry.size_bytes

    def _read_link_target(self, node: FatNode) -> str:
        raise AssertionError("FAT has no symlinks")  # never called: no node has S_IFLNK

    def _read_content(self, node: FatNode) -> bytes:
        size_bytes = node.entry.size_bytes
        if size_bytes == 0:
            return b""
        what = f"file {node.path}"
        needed = -(-size_bytes // self.layout.cluster_bytes)
        clusters = self.chain(node.entry.first_cluster, what, needed)
        if len(clusters) < needed:
            raise fat_error(f"{what}: {size_bytes} bytes need {needed} clusters, its chain has {len(clusters)}",
                            node.entry.offset)
        return self._read_clusters(clusters, size_bytes, what)

    def _list_names(self, node: FatNode) -> list[str]:
        return list(self._listing(node).names)
