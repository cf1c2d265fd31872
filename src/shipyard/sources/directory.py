"""A ``FileSource`` over a real directory: a live node's ``/``, or a test's tree.

Symlinks are resolved by ``ResolvingSource`` against ``root``, exactly as inside an image, so an
absolute link inside a tree never escapes to the host's files.
"""

from __future__ import annotations

import os
from pathlib import Path

from shipyard.sources.base import normalize
from shipyard.sources.resolving import ResolvingSource

HostNode = tuple[Path, os.stat_result]


class DirectorySource(ResolvingSource[HostNode]):
    filesystem_type = "directory"

    def __init__(self, root: str | Path = "/") -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"DirectorySource({str(self.root)!r})"

    def _lookup_node(self, physical_path: str) -> HostNode:
        host = self.root / normalize(physical_path).lstrip("/")
        return host, os.lstat(host)

    def _read_mode(self, node: HostNode) -> int:
        return node[1].st_mode

    def _read_size_bytes(self, node: HostNode) -> int:
        return node[1].st_size

    def _read_link_target(self, node: HostNode) -> str:
        return os.readlink(node[0])

    def _read_content(self, node: HostNode) -> bytes:
        return node[0].read_bytes()

    def _list_names(self, node: HostNode) -> list[str]:
        return os.listdir(node[0])
