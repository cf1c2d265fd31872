"""Random-access, read-only byte devices: the seam between containers and filesystems.

A VHD (fixed or dynamic), a partition inside it, or an LVM logical volume are all a
``BlockDevice``: a size and ``read(offset, length)``. Filesystem readers take one and never
know what lies beneath. The disk underneath is a local file (``FileDevice``) or any other
device a caller opens, e.g. a page blob read in place (``shipyard.storage.blob_device``): messages
call it by its ``name`` (:func:`device_name`).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Protocol, runtime_checkable


@runtime_checkable
class BlockDevice(Protocol):
    size_bytes: int

    def read(self, offset: int, length: int) -> bytes:
        """Exactly ``length`` bytes from ``offset`` (fewer only at the end of the device)."""
        ...


@runtime_checkable
class CountedDevice(BlockDevice, Protocol):
    """A device that counts the bytes it reads (for a remote one: the bytes it downloads)."""

    bytes_read: int


def device_name(device: BlockDevice) -> str:
    """What messages call a device: its ``name`` (a file's path, a blob's bare URI), else its ``path``."""
    name = getattr(device, "name", None)
    if name:
        return str(name)
    path = getattr(device, "path", None)
    return str(path) if path is not None else "the disk"


class CountingDevice:
    """A device that does not count its own reads, counted: ``bytes_read`` is what it returned."""

    def __init__(self, device: BlockDevice) -> None:
        self.device = device
        self.name = device_name(device)
        self.size_bytes = device.size_bytes
        self.bytes_read = 0

    def read(self, offset: int, length: int) -> bytes:
        data = self.device.read(offset, length)
        self.bytes_read += len(data)
        return data

    def close(self) -> None:
        close = getattr(self.device, "close", None)
        if close is not None:
            close()


class FileDevice:
    """A plain file (a raw disk, a fixed VHD's data part, a bare filesystem image).

    ``bytes_read`` counts what was actually read, for the benchmark's "reads < 1%" target.
    """

    def __init__(self, path: str | Path, size_bytes: int | None = None) -> None:
        self.path = Path(path)
        self.name = str(self.path)
        # O_NONBLOCK: opening a FIFO that has no writer must not hang (``open_disk`` then refuses it)
        self._fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            # the end of the file, or of a block device (whose fstat size is 0)
            self.size_bytes = os.lseek(self._fd, 0, os.SEEK_END) if size_bytes is None else size_bytes
        except OSError:  # not seekable (a FIFO, a socket): nothing to read at an offset
            self.size_bytes = 0
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
        if getattr(self, "_fd", -1) >= 0:  # (-1 too when __init__ failed before opening)
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> FileDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(OSError):
            self.close()


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
