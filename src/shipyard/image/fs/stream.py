"""A read-only file-like view of a ``BlockDevice``, for libraries that want a file object."""

from __future__ import annotations

import io

from shipyard.image.device import BlockDevice


class DeviceStream:
    """``read``/``seek``/``tell``/``get_size`` over a device; it never writes.

    It has no ``fileno`` on purpose: readers must go through the device, so that a partition
    window or an LVM mapping is respected and every byte read is counted.
    """

    def __init__(self, device: BlockDevice) -> None:
        self.device = device
        self.position_bytes = 0

    def read(self, size: int = -1) -> bytes:
        remaining = self.device.size_bytes - self.position_bytes
        length = remaining if size is None or size < 0 else min(size, remaining)
        if length <= 0:
            return b""
        data = self.device.read(self.position_bytes, length)
        self.position_bytes += len(data)
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            position = offset
        elif whence == io.SEEK_CUR:
            position = self.position_bytes + offset
        elif whence == io.SEEK_END:
            position = self.device.size_bytes + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if position < 0:
            raise ValueError("negative seek position")
        self.position_bytes = position
        return position

    def tell(self) -> int:
        return self.position_bytes

    def get_size(self) -> int:
        return self.device.size_bytes

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def close(self) -> None:
        """Nothing to release: the device belongs to the caller."""
