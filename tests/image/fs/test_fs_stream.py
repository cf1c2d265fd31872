"""``DeviceStream``: the file-like view libraries read a ``BlockDevice`` through."""

from __future__ import annotations

import io

import pytest

from shipyard.image.device import FileDevice, RangeDevice
from shipyard.image.fs.stream import DeviceStream


@pytest.fixture
def stream(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(range(256)) * 4)
    return DeviceStream(RangeDevice(FileDevice(path), 16, 512))


def test_reads_seeks_and_tells(stream):
    assert stream.get_size() == 512
    assert stream.read(4) == bytes([16, 17, 18, 19])
    assert stream.tell() == 4
    assert stream.seek(-2, io.SEEK_CUR) == 2
    assert stream.read(2) == bytes([18, 19])
    assert stream.seek(-1, io.SEEK_END) == 511
    assert stream.read(10) == bytes([(16 + 511) % 256])
    assert stream.read(10) == b""
    stream.seek(500)
    assert len(stream.read()) == 12


def test_seeking_past_the_end_reads_nothing(stream):
    stream.seek(10_000)
    assert stream.read(5) == b""


def test_is_read_only_and_rejects_bad_seeks(stream):
    assert stream.readable() and stream.seekable() and not stream.writable()
    assert not hasattr(stream, "write") and not hasattr(stream, "fileno")
    with pytest.raises(ValueError):
        stream.seek(-1)
    with pytest.raises(ValueError):
        stream.seek(0, 7)
