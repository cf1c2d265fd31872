"""One ``FileSource`` over a root and the filesystems mounted on it, as a running system sees them.

An image whose ``/boot`` (RHEL, a separate XFS partition) or ``/boot/efi`` (the EFI system
partition) lives on its own partition has an empty directory there in the root filesystem; the
boot facts need what is mounted on it. ``MountedSource(root, {"/boot": boot_fs})`` serves each
path from the filesystem mounted deepest above it. Symlinks resolve across mounts, against the
whole view's root, as the kernel resolves them.
"""

from __future__ import annotations


from shipyard.sources.base import FileSource, normalize, read_head
from shipyard.sources.resolving import ResolvingSource

Node = tuple[FileSource, str, int, int]  # the filesystem, the path in it, st_mode, size


class MountedSource(ResolvingSource[Node]):
    filesystem_type = "mounted"

    def __init__(self, root: FileSource, mounts: dict[str, FileSource]) -> None:
        self.root = root
        # deepest mount point first, so that /boot/efi wins over /boot
        self.mounts: list[tuple[str, FileSource]] = sorted(
            ((normalize(point), source) for point, source in mounts.items() if normalize(point) != "/"),
            key=lambda item: -item[0].count("/"),
        )

    def __repr__(self) -> str:
        return f"MountedSource({self.root!r}, {dict(self.mounts)!r})"

    @property
    def mount_points(self) -> tuple[str, ...]:
        return tuple(point for point, _ in self.mounts)

    def _place(self, physical_path: str) -> tuple[FileSource, str]:
        path = normalize(physical_path)
        for point, source in self.mounts:
            if path == point or path.startswith(point + "/"):
                return source, normalize(path[len(point):])
        return self.root, path

    def _lookup_node(self, physical_path: str) -> Node:
        source, inner = self._place(physical_path)
        found = source.lstat(inner)
        return source, inner, found.mode, found.size_bytes

    def _read_mode(self, node: Node) -> int:
        return node[2]

    def _read_size_bytes(self, node: Node) -> int:
        return node[3]

    def _read_link_target(self, node: Node) -> str:
        return node[0].readlink(node[1])

    def _read_content(self, node: Node) -> bytes:
        return node[0].read_bytes(node[1])

    def _read_content_prefix(self, node: Node, length: int) -> bytes:
        return read_head(node[0], node[1], length)

    def _list_names(self, node: Node) -> list[str]:
        return node[0].listdir(node[1])
