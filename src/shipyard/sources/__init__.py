"""Read-only views of a root filesystem: an offline disk image or a live node's real root.

Fact collectors read only through :class:`FileSource`, so the same collectors serve both.
"""

from shipyard.sources.base import FileKind, FileSource, FileStat
from shipyard.sources.directory import DirectorySource

__all__ = ["DirectorySource", "FileKind", "FileSource", "FileStat"]
