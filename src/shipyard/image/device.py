"""Random-access, read-only byte devices: the seam between containers and filesystems.

A VHD (fixed or dynamic), a partition inside it, or an LVM logical volume are all a
``BlockDevice``: a size and ``read(offset, length)``. Filesystem readers take one and never
know what lies beneath.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol, runtime_checkable


@runtime_checkable
class BlockDevice(Protocol):
    size_bytes: int

    def read(self, offset: int, length: int) -> bytes:
        """Exactly ``length`` bytes from ``offset`` (fewer only at the end of the device)."""
        ...


class FileDevice:
    """A plain file (a raw disk, a fixed VHD's data part, a bare filesystem image).

    ``bytes_read`` counts what was actually read, for the benchmark's "reads < 1%" target.
    """

    def __init__(self, path: str | Path, size_bytes: int | None = None) -> None:
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_RDONLY)
        self.size_bytes = os.fstat(self._fd).st_size if size_bytes is None else size_bytes
        self.bytes_read = 0

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError("negative offset or length")
        length = max(0, min(length, self.size_bytes - offset))
        data = os.pread(self._fd, length, offset) if length else b""
        self.bytes_read += len(data)
        return data

    def fileno(self) -> int:
        """The open descriptor (for ``os.lseek`` SEEK_DATA/SEEK_HOLE)."""
        return self._fd

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> FileDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class RangeDevice:
    """A window ``[start, start + size)`` of another device: a partition, a linear LV segment."""

    def __init__(self, device: BlockDevice, start: int, size_bytes: int) -> None:
        if start < 0 or size_bytes < 0 or start + size_bytes > device.size_bytes:
            raise ValueError(f"range {start}+{size_bytes} lies outside a {device.size_bytes}-byte device")
        self.device = device
        self.start = start
        self.size_bytes = size_bytes

    def read(self, offset: int, length: int) -> bytes:
        length = max(0, min(length, self.size_bytes - offset))
        return self.device.read(self.start + offset, length) if length else b""
