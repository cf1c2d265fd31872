"""``open_disk`` and ``inspect_image`` on a ``BlockDevice`` that is not a local file.

The device here holds a real image's bytes in memory and has a blob-like name; what a disk
read in place from storage looks like to the image layer (``shipyard.storage.blob_device`` is
tested against both stores in tests/storage and tests/cli).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.images import build_test_image, write_dynamic_vhd, write_raw_image
from shipyard.errors import ImageFormatError
from shipyard.image.azure import azure_problems
from shipyard.image.disk import open_disk
from shipyard.checks.image import inspect_image

URI = "https://acct1.blob.core.windows.net/vhds/images/disk.vhd"


class MemoryDevice:
    """A named device over bytes, with no ``bytes_read`` of its own (``open_disk`` counts)."""

    def __init__(self, data: bytes, name: str = URI) -> None:
        self.data = data
        self.name = name
        self.size_bytes = len(data)
        self.reads = 0
        self.closed = False

    def read(self, offset: int, length: int) -> bytes:
        self.reads += 1
        return self.data[offset : offset + max(0, length)]

    def close(self) -> None:
        self.closed = True


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("devimg")
    raw = write_raw_image(tmp, "disk.raw")
    return {"fixed": build_test_image(tmp, "fixed.vhd"), "dynamic": write_dynamic_vhd(raw, tmp / "dynamic.vhd")}


@pytest.mark.parametrize("kind", ["fixed", "dynamic"])
def test_a_device_reads_as_the_file_does(images: dict[str, Path], kind: str) -> None:
    path = images[kind]
    device = MemoryDevice(path.read_bytes())
    with open_disk(path, allow_bad_checksum=True) as from_file, open_disk(device) as from_device:
        assert (from_device.format, from_device.size_bytes, from_device.file_size_bytes) == \
               (from_file.format, from_file.size_bytes, from_file.file_size_bytes)
        assert from_device.read(0, 4096) == from_file.read(0, 4096)
        assert from_device.read(from_file.size_bytes - 100, 1000) == from_file.read(from_file.size_bytes - 100, 1000)
        assert from_device.name == URI and from_device.path is None
        assert from_device.hint_path == Path("disk.vhd")
        assert from_device.bytes_read > 0  # counted for a device that does not count
    assert device.closed  # the image owns the device it was given


def test_inspect_of_a_device_reports_what_the_file_does(images: dict[str, Path]) -> None:
    path = images["fixed"]
    device = MemoryDevice(path.read_bytes())
    from_device, from_file = inspect_image(device), inspect_image(path)
    assert from_device.facts == from_file.facts
    assert {**from_device.format, "path": None} == {**from_file.format, "path": None}
    assert from_device.format["path"] == URI
    assert from_device.bytes_read == from_file.bytes_read  # the same reads, counted the same way


def test_a_devices_hints_work_on_a_downloaded_copy(images: dict[str, Path]) -> None:
    with open_disk(MemoryDevice(images["dynamic"].read_bytes())) as disk:
        problems = {p.id: p for p in azure_problems(disk)}
    assert problems["vhd.format"].fix == (
        f"download {URI} to disk.vhd first, then: convert it with `shipyard image convert disk.vhd disk-fixed.vhd`: "
        "it writes a fixed VHD rounded up to a whole MiB")
    with open_disk(images["dynamic"]) as disk:  # a file's hints are as they were
        assert {p.id: p for p in azure_problems(disk)}["vhd.format"].fix == (
            f"convert it with `shipyard image convert {images['dynamic']} {images['dynamic'].with_name('dynamic-fixed.vhd')}`"
            ": it writes a fixed VHD rounded up to a whole MiB")


def test_a_device_that_is_no_image_is_refused_by_its_name() -> None:
    with pytest.raises(ImageFormatError) as empty:
        open_disk(MemoryDevice(b""))
    assert str(empty.value) == f"{URI} is empty (0 bytes)"
    vhdx = MemoryDevice(b"vhdxfile" + bytes(70_000), "local://acct1/vhds/x.vhdx")
    with pytest.raises(ImageFormatError, match="not a VHD: this is VHDX") as foreign:
        open_disk(vhdx)
    assert foreign.value.hint == (
        "download local://acct1/vhds/x.vhdx to x.vhdx first, then: shipyard does not read VHDX; convert it with "
        "`qemu-img convert -f vhdx -O vpc -o subformat=fixed,force_size x.vhdx x.vhd` (qemu-utils), then run "
        "`shipyard image check x.vhd`")
    assert vhdx.closed  # refused: the device is closed, not leaked
    with pytest.raises(ImageFormatError, match="no VHD footer, partition table or known filesystem"):
        open_disk(MemoryDevice(b"hello" * 1000))


def test_a_truncated_blob_is_to_be_uploaded_again(images: dict[str, Path], tmp_path: Path) -> None:
    data = images["fixed"].read_bytes()
    cut = data[: len(data) // 2]  # a fixed VHD that lost its end, footer and all: the MBR says how much
    with pytest.raises(ImageFormatError, match=r"^disk.vhd is truncated: the MBR partition table says") as blob:
        open_disk(MemoryDevice(cut))
    assert blob.value.hint == "upload the whole image again"
    short = tmp_path / "disk.vhd"
    short.write_bytes(cut)
    with pytest.raises(ImageFormatError) as file:
        open_disk(short)
    assert str(file.value) == str(blob.value) and file.value.hint == "copy or download the whole image again"
