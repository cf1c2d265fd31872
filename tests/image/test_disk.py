"""``open_disk``: what cannot be read is refused in one line, before anything is misread: other
formats by name with the command that converts them, differencing VHDs, bad input, truncated
images with the bytes missing, damaged footers and headers, and anything but a file or a block device.

The images (``images``) come from ``tests/image/conftest.py``.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import struct
import subprocess
from pathlib import Path

import pytest

from fixtures.images import (
    QEMU_IMG, make_ext4_file, make_vhd_footer, needs_qemu, write_lvm_image, write_raw_image, write_rootfs,
)
from shipyard.errors import ImageFormatError
from shipyard.image.azure import azure_problems
from shipyard.image.vhd import MIB
from shipyard.image.disk import open_disk


def copy_with(path: Path, tmp_path: Path, offset: int, data: bytes) -> Path:
    target = tmp_path / ("edited-" + path.name)
    shutil.copyfile(path, target)
    with open(target, "r+b") as out:
        os.pwrite(out.fileno(), data, offset if offset >= 0 else os.fstat(out.fileno()).st_size + offset)
    return target


FOREIGN_MAGIC = [
    (b"vhdxfile" + bytes(100), "VHDX"),
    (b"QFI\xfb\x00\x00\x00\x03" + bytes(100), "qcow2"),
    (b"KDMV\x01\x00\x00\x00" + bytes(100), "VMDK"),
    (b"# Disk DescriptorFile\nversion=1\n", "VMDK"),
    (b"<<< QEMU VM Virtual Disk Image >>>\n".ljust(64, b"\0") + b"\x7f\x10\xda\xbe" + bytes(60), "VDI"),
]


@pytest.mark.parametrize(("head", "name"), FOREIGN_MAGIC)
def test_other_formats_are_refused_by_name_with_the_fix(tmp_path: Path, head: bytes, name: str) -> None:
    path = tmp_path / "image"
    path.write_bytes(head.ljust(4096, b"\0"))
    with pytest.raises(ImageFormatError, match=f"^not a VHD: this is {name}$") as caught:
        open_disk(path)
    fmt = {"VHDX": "vhdx", "qcow2": "qcow2", "VMDK": "vmdk", "VDI": "vdi"}[name]
    assert caught.value.hint == (
        f"shipyard does not read {name}; convert it with `qemu-img convert -f {fmt} -O vpc -o "
        f"subformat=fixed,force_size {path} {path}.vhd` (qemu-utils), then run `shipyard image check {path}.vhd`")
    with pytest.raises(ImageFormatError) as caught:
        open_disk(path, dst_hint=tmp_path / "my disk.vhd")  # names with spaces are quoted for the shell
    assert f"{path} '{tmp_path}/my disk.vhd'` (qemu-utils)" in (caught.value.hint or "")


@needs_qemu
@pytest.mark.parametrize(("fmt", "name"), [("vhdx", "VHDX"), ("qcow2", "qcow2"), ("vmdk", "VMDK"), ("vdi", "VDI")])
def test_other_formats_made_by_qemu_are_refused(tmp_path: Path, fmt: str, name: str) -> None:
    path = tmp_path / f"disk.{fmt}"
    subprocess.run([QEMU_IMG, "create", "-q", "-f", fmt, str(path), "8M"], check=True)
    with pytest.raises(ImageFormatError, match=f"this is {name}"):
        open_disk(path)


def test_differencing_vhd_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "diff.vhd"
    path.write_bytes(make_vhd_footer(MIB, 4, 512) + bytes(2048) + make_vhd_footer(MIB, 4, 512))
    with pytest.raises(ImageFormatError, match="differencing"):
        open_disk(path)


@pytest.mark.parametrize("case", ["empty", "random", "zeros", "directory", "missing", "tiny"])
def test_bad_input_gives_one_line_image_format_error(tmp_path: Path, case: str) -> None:
    path = tmp_path / "input"
    if case == "empty":
        path.touch()
    elif case == "random":
        path.write_bytes(random.Random(3).randbytes(MIB))
    elif case == "zeros":
        path.write_bytes(bytes(MIB))
    elif case == "directory":
        path.mkdir()
    elif case == "tiny":
        path.write_bytes(b"conectix")
    with pytest.raises(ImageFormatError) as caught:
        open_disk(path)
    assert "\n" not in str(caught.value) and str(caught.value)


def test_truncated_dynamic_vhd_is_reported(images: dict[str, Path], tmp_path: Path) -> None:
    data = images["dynamic"].read_bytes()
    path = tmp_path / "cut.vhd"
    path.write_bytes(data[:-1000])
    with pytest.raises(ImageFormatError) as caught:
        open_disk(path)
    assert str(caught.value) == (f"cut.vhd is truncated: its BAT says {len(data):,} bytes of data, the file holds "
                                 f"{len(data) - 1000:,} bytes (1,000 bytes missing)")


def test_truncated_dynamic_vhd_cut_before_its_bat_is_still_reported(images: dict[str, Path],
                                                                    tmp_path: Path) -> None:
    path = tmp_path / "cut.vhd"
    path.write_bytes(images["dynamic"].read_bytes()[:1024])  # the footer copy; no header, no BAT
    with pytest.raises(ImageFormatError, match=r"^truncated VHD: a footer copy is at offset 0"):
        open_disk(path)


def test_truncated_fixed_vhd_is_reported(images: dict[str, Path], tmp_path: Path) -> None:
    data = images["fixed"].read_bytes()
    path = tmp_path / "cut.vhd"
    path.write_bytes(data[: 4 * MIB] + data[-512:])
    with pytest.raises(ImageFormatError) as caught:
        open_disk(path)
    missing = len(data) - 512 - 4 * MIB
    assert str(caught.value) == (f"cut.vhd is truncated: the footer says {(len(data) - 512) // MIB} MiB of data, "
                                 f"the file holds 4 MiB ({missing:,} bytes missing)")
    assert caught.value.field == "current_size"


@pytest.mark.parametrize("table", ["mbr", "gpt"])
def test_a_raw_disk_shorter_than_its_partition_table_is_truncated(tmp_path: Path, table: str) -> None:
    raw = write_raw_image(tmp_path, "disk.raw", table=table)
    full = raw.stat().st_size
    os.truncate(raw, full - 3 * MIB)
    what = {"mbr": "the MBR partition table", "gpt": "the GPT header"}[table]
    with pytest.raises(ImageFormatError) as caught:
        open_disk(raw)
    assert str(caught.value) == (f"disk.raw is truncated: {what} says {full // MIB} MiB of data, the file holds "
                                 f"{full // MIB - 3} MiB (3,145,728 bytes missing)")


def test_whole_disk_filesystems_and_pvs_shorter_than_they_say_are_truncated(tmp_path: Path) -> None:
    ext = make_ext4_file(tmp_path / "ext.img", write_rootfs(tmp_path / "root"), 12 * MIB)
    os.truncate(ext, 10 * MIB + 512)
    with pytest.raises(ImageFormatError, match=r"^ext.img is truncated: the ext superblock says 12 MiB of data, "
                                               r"the file holds 10,486,272 bytes \(2,096,640 bytes missing\)$"):
        open_disk(ext)
    mkfs_xfs = shutil.which("mkfs.xfs")
    if mkfs_xfs:  # (without xfsprogs the ext and LVM cases still run; the XFS one is skipped below)
        xfs = tmp_path / "xfs.img"
        xfs.write_bytes(b"")
        os.truncate(xfs, 300 * MIB)
        subprocess.run([mkfs_xfs, "-q", str(xfs)], check=True)
        os.truncate(xfs, 200 * MIB)
        with pytest.raises(ImageFormatError, match=r"^xfs.img is truncated: the XFS superblock says 300 MiB of "
                                                   r"data, the file holds 200 MiB \(104,857,600 bytes missing\)$"):
            open_disk(xfs)
    pv = write_lvm_image(tmp_path, "pv.raw", partitioned=False)
    os.truncate(pv, 20 * MIB)
    with pytest.raises(ImageFormatError, match=r"^pv.raw is truncated: the LVM PV label says 24 MiB of data, "
                                               r"the file holds 20 MiB \(4,194,304 bytes missing\)$"):
        open_disk(pv)
    if not mkfs_xfs:
        pytest.skip("mkfs.xfs (xfsprogs) is not installed: the XFS case did not run")


def test_bad_footer_checksum_is_refused_or_reported(images: dict[str, Path], tmp_path: Path) -> None:
    path = copy_with(images["fixed"], tmp_path, -512 + 28, b"evil")
    with pytest.raises(ImageFormatError, match="checksum") as caught:
        open_disk(path)
    assert caught.value.field == "checksum" and caught.value.offset == path.stat().st_size - 512 + 64
    assert caught.value.hint == (f"the footer is damaged or was edited; `shipyard image convert {path} "
                                 f"{tmp_path}/edited-fixed-fixed.vhd` copies the data and writes a correct footer")
    with open_disk(path, allow_bad_checksum=True) as disk:
        assert [p.id for p in azure_problems(disk)] == ["vhd.footer"]


def test_a_damaged_footers_size_is_not_trusted(images: dict[str, Path], tmp_path: Path) -> None:
    data_bytes = images["fixed"].stat().st_size - 512
    path = copy_with(images["fixed"], tmp_path, -512 + 48, struct.pack(">Q", data_bytes + 7 * MIB))
    with open_disk(path, allow_bad_checksum=True) as disk:  # the file's length says where the data ends
        assert disk.size_bytes == data_bytes
        assert sorted(p.id for p in azure_problems(disk)) == ["vhd.footer", "vhd.footer"]


@pytest.mark.parametrize("kind", ["fifo", "socket", "chardev"])
def test_anything_but_a_file_or_block_device_is_refused_unopened(tmp_path: Path, kind: str) -> None:
    path = tmp_path / kind
    if kind == "fifo":
        os.mkfifo(path)  # opening it for reading would block until a writer comes
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
    else:
        path = Path("/dev/zero")
    def hung(signum: int, frame: object) -> None:
        raise TimeoutError(f"open_disk on a {kind} hung")

    previous = signal.signal(signal.SIGALRM, hung)  # a regression fails here instead of hanging the suite
    signal.alarm(10)
    try:
        with pytest.raises(ImageFormatError) as caught:
            open_disk(path)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        if kind == "socket":
            server.close()
    kinds = {"fifo": "a FIFO (named pipe)", "socket": "a socket", "chardev": "a character device"}
    assert str(caught.value) == f"{path} is {kinds[kind]}, not a disk image"


def test_bat_entry_past_end_of_file_is_refused(images: dict[str, Path], tmp_path: Path) -> None:
    path = copy_with(images["dynamic"], tmp_path, 1536, struct.pack(">I", 0x00FFFFF0))
    with pytest.raises(ImageFormatError, match=r"BAT entry 0 points to sector \d+, past the end") as caught:
        open_disk(path)
    assert caught.value.field == "bat" and caught.value.offset == 1536


def test_dynamic_header_checksum_is_checked(images: dict[str, Path], tmp_path: Path) -> None:
    path = copy_with(images["dynamic"], tmp_path, 512 + 32, struct.pack(">I", 4096))
    with pytest.raises(ImageFormatError, match="dynamic VHD header checksum"):
        open_disk(path)
