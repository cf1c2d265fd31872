"""MBR (with logical partitions) and GPT, checked against sfdisk and debugfs on real images."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures.images import OS_RELEASE, build_test_image, make_ext4_file, read_with_debugfs, write_rootfs
from shipyard.errors import ImageFormatError
from shipyard.image.build import make_gpt
from shipyard.image.device import FileDevice
from shipyard.image.partitions import read_partition_table
from shipyard.image.vhd import MIB
from shipyard.image.disk import open_disk

SFDISK = shutil.which("sfdisk") or ("/usr/sbin/sfdisk" if os.path.exists("/usr/sbin/sfdisk") else None)
needs_sfdisk = pytest.mark.skipif(SFDISK is None, reason="sfdisk is not installed")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("parts")
    return {table: build_test_image(tmp, f"{table}.vhd", table=table) for table in ("mbr", "gpt")}


def sfdisk_partitions(path: Path) -> list[dict]:
    result = subprocess.run([SFDISK, "--json", str(path)], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)["partitiontable"]["partitions"]


@pytest.mark.parametrize("table", ["mbr", "gpt"])
def test_built_image_partition_is_at_1_mib_and_holds_the_filesystem(built: dict[str, Path], table: str) -> None:
    with open_disk(built[table]) as disk:
        parsed = read_partition_table(disk)
        assert parsed.scheme == table
        (part,) = parsed.partitions
        assert (part.index, part.start_bytes, part.type_name) == (1, MIB, "linux")
        device = part.open_device()
        assert device.size_bytes == part.size_bytes
        assert device.read(1080, 2) == b"\x53\xef"  # the ext4 superblock magic
        assert read_with_debugfs(built[table], "/etc/os-release", part.start_bytes) == OS_RELEASE.encode()
        if table == "gpt":
            assert part.name == "root" and parsed.disk_guid


@needs_sfdisk
@pytest.mark.parametrize("table", ["mbr", "gpt"])
def test_built_partition_table_agrees_with_sfdisk(built: dict[str, Path], table: str) -> None:
    with open_disk(built[table]) as disk:
        ours = read_partition_table(disk).partitions
    theirs = sfdisk_partitions(built[table])
    assert [(p.start_bytes // 512, p.size_bytes // 512) for p in ours] == [(p["start"], p["size"]) for p in theirs]
    assert [p.type_id.lstrip("0x") for p in ours] == [p["type"].lower().lstrip("0x") for p in theirs]


def sfdisk_image(path: Path, script: str, size_bytes: int = 64 * MIB) -> Path:
    with open(path, "wb") as out:
        out.truncate(size_bytes)
    subprocess.run([SFDISK, "-q", "--no-reread", "--no-tell-kernel", str(path)], input=script, text=True,
                   check=True, capture_output=True)
    return path


@needs_sfdisk
def test_mbr_extended_and_logical_partitions_from_sfdisk(tmp_path: Path) -> None:
    path = sfdisk_image(tmp_path / "ext.raw", "label: dos\n"
                        "start=2048, size=8192, type=83, bootable\n"
                        "start=10240, size=16384, type=8e\n"
                        "start=26624, type=5\n"
                        "size=8192, type=82\n"
                        "size=8192, type=83\n"
                        "type=7\n")
    with FileDevice(path) as disk:
        ours = read_partition_table(disk).partitions
    theirs = sfdisk_partitions(path)
    theirs = [p for p in theirs if p["type"] not in ("5", "f")]
    assert [p.index for p in ours] == [1, 2, 5, 6, 7]
    assert [(p.start_bytes // 512, p.size_bytes // 512) for p in ours] == [(p["start"], p["size"]) for p in theirs]
    assert [p.type_name for p in ours] == ["linux", "lvm", "swap", "linux", "microsoft-basic-data"]
    assert [p.bootable for p in ours] == [True, False, False, False, False]


@needs_sfdisk
def test_gpt_type_names_from_sfdisk(tmp_path: Path) -> None:
    path = sfdisk_image(tmp_path / "gpt.raw", "label: gpt\n"
                        "size=1MiB, type=21686148-6449-6E6F-744E-656564454649, name=bios\n"
                        "size=4MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=efi\n"
                        "size=4MiB, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F\n"
                        "size=8MiB, type=E6D6D379-F507-44C2-A23C-238F2A3DF928\n"
                        "size=8MiB, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\n"
                        "type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=root\n")
    with FileDevice(path) as disk:
        table = read_partition_table(disk)
    assert table.scheme == "gpt"
    assert [p.type_name for p in table.partitions] == ["bios-boot", "efi", "swap", "lvm", "microsoft-basic-data",
                                                        "linux"]
    assert [p.name for p in table.partitions][:2] == ["bios", "efi"]
    theirs = sfdisk_partitions(path)
    assert [(p.start_bytes // 512, p.size_bytes // 512) for p in table.partitions] == [
        (p["start"], p["size"]) for p in theirs]
    assert [p.guid for p in table.partitions] == [p["uuid"].lower() for p in theirs]


def test_whole_disk_filesystem_is_one_partition(tmp_path: Path) -> None:
    fs = make_ext4_file(tmp_path / "fs.img", write_rootfs(tmp_path / "root"), 8 * MIB)
    with open_disk(fs) as disk:
        assert disk.format == "raw"
        table = read_partition_table(disk)
    assert table.scheme == "none"
    (part,) = table.partitions
    assert (part.start_bytes, part.size_bytes, part.type_name) == (0, 8 * MIB, "linux")


def test_no_table_and_no_filesystem_is_an_error(tmp_path: Path) -> None:
    with FileDevice(_write(tmp_path / "zeros", bytes(MIB))) as disk, pytest.raises(ImageFormatError,
                                                                                   match="no partition table"):
        read_partition_table(disk)


def test_partition_past_the_end_of_a_truncated_disk(built: dict[str, Path], tmp_path: Path) -> None:
    path = _write(tmp_path / "cut.raw", built["mbr"].read_bytes()[: 4 * MIB])
    with FileDevice(path) as disk, pytest.raises(ImageFormatError, match="past the end of the 4194304-byte disk"):
        read_partition_table(disk)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _gpt_disk(tmp_path: Path, edit: tuple[int, bytes] | None = None) -> Path:
    data = bytearray(built_gpt_bytes())
    if edit:
        data[edit[0] : edit[0] + len(edit[1])] = edit[1]
    return _write(tmp_path / "gpt.raw", bytes(data))


def built_gpt_bytes() -> bytes:
    import uuid

    size = 4 * MIB
    head, tail, tail_offset = make_gpt(size, [("0fc63daf-8483-4772-8e79-3d69d8477de4", 2048, 8191 - 33, "r")],
                                       uuid.UUID(int=1))
    data = bytearray(size)
    data[: len(head)] = head
    data[tail_offset : tail_offset + len(tail)] = tail
    return bytes(data)


def test_gpt_falls_back_to_the_backup_header(tmp_path: Path) -> None:
    with FileDevice(_gpt_disk(tmp_path, (512 + 24, b"\xff"))) as disk:
        assert [p.start_bytes for p in read_partition_table(disk).partitions] == [MIB]


def test_gpt_with_both_headers_damaged_is_an_error(tmp_path: Path) -> None:
    data = bytearray(built_gpt_bytes())
    data[512 + 24] ^= 1
    data[-512 + 24] ^= 1
    with FileDevice(_write(tmp_path / "bad.raw", bytes(data))) as disk, \
            pytest.raises(ImageFormatError, match="GPT header CRC32 at LBA 1 does not match"):
        read_partition_table(disk)


def test_gpt_entry_array_crc_is_checked(tmp_path: Path) -> None:
    with FileDevice(_gpt_disk(tmp_path, (1024 + 60, b"X"))) as disk, \
            pytest.raises(ImageFormatError, match="entry array CRC32"):
        read_partition_table(disk)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(st.integers(0, 92 + 255), st.integers(0, 255)), min_size=1, max_size=6))
def test_mutated_gpt_headers_and_entries_raise_only_image_format_error(edits: list[tuple[int, int]]) -> None:
    data = bytearray(built_gpt_bytes())
    for position, value in edits:  # the header (fields and CRCs recomputed) and the first two entries
        data[512 + position if position < 92 else 1024 + position - 92] = value
    entries_crc = zlib.crc32(bytes(data[1024 : 1024 + 128 * 128]))
    struct.pack_into("<I", data, 512 + 88, entries_crc)
    struct.pack_into("<I", data, 512 + 16, 0)
    header_size = struct.unpack_from("<I", data, 512 + 12)[0]
    struct.pack_into("<I", data, 512 + 16, zlib.crc32(bytes(data[512 : 512 + min(header_size, 512)])))
    with tempfile.TemporaryDirectory() as tmp, FileDevice(_write(Path(tmp) / "g", bytes(data))) as disk:
        try:
            for part in read_partition_table(disk).partitions:
                part.open_device().read(0, 4096)
        except ImageFormatError as error:
            assert "\n" not in str(error)
