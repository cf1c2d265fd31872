"""Windows images: recognised from a few well-known files; nothing else is collected yet.

The version lives in the registry's SOFTWARE hive (``CurrentVersion``); reading a regf hive is
not implemented, so ``version_id`` stays unknown.
"""

from __future__ import annotations

from shipyard.facts.model import OsFacts
from shipyard.sources.base import FileSource

WINDOWS_HINTS = (
    "/Windows/System32/config/SOFTWARE",
    "/WINDOWS/system32/config/SOFTWARE",
    "/Windows/System32/ntoskrnl.exe",
    "/WINDOWS/system32/ntoskrnl.exe",
)


def collect_windows_os(source: FileSource) -> OsFacts | None:
    """An ``OsFacts`` with family "windows" when a Windows system directory is present."""
    for path in WINDOWS_HINTS:
        if source.exists(path):
            return OsFacts(id="windows", name="Windows", family="windows", source_file=path)
    return None
