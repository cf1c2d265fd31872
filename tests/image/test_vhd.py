"""The VHD container: footers, dynamic disks, refused formats, bad input and Azure's rules."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures.images import (
    build_test_image, make_ext4_file, make_vhd_footer, write_dynamic_vhd, write_lvm_image, write_raw_image,
    write_rootfs,
)
from shipyard.errors import ImageFormatError
from shipyard.image.partitions import read_partition_table
from shipyard.image.azure import azure_problems
from shipyard.image.vhd import (
    MIB,
    calc_vhd_checksum,
    compute_chs_geometry,
    parse_footer,
)
from shipyard.image.disk import open_disk

QEMU_IMG = shutil.which("qemu-img")
needs_qemu = pytest.mark.skipif(QEMU_IMG is None, reason="qemu-img is not installed")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("vhd")
    raw = write_raw_image(tmp, "disk.raw")
    return {
        "fixed": build_test_image(tmp, "fixed.vhd"),
        "raw": raw,
        "dynamic": write_dynamic_vhd(raw, tmp / "dynamic.vhd"),
        "dynamic_sparse_bitmap": write_dynamic_vhd(raw, tmp / "dynamic-bitmap.vhd", sparse_bitmap=True,
                                                   block_bytes=64 * 1024),
    }


def copy_with(path: Path, tmp_path: Path, offset: int, data: bytes) -> Path:
    target = tmp_path / ("edited-" + path.name)
    shutil.copyfile(path, target)
    with open(target, "r+b") as out:
        os.pwrite(out.fileno(), data, offset if offset >= 0 else os.fstat(out.fileno()).st_size + offset)
    return target


def test_fixed_vhd_footer_is_parsed_and_azure_ready(images: dict[str, Path]) -> None:
    path = images["fixed"]
    with open_disk(path) as disk:
        footer = disk.footer
        assert disk.format == "vhd-fixed"
        assert footer is not None and footer.checksum_valid
        assert (footer.cookie, footer.disk_type, footer.creator_application) == (b"conectix", 2, "win")
        assert footer.current_size_bytes == footer.original_size_bytes == path.stat().st_size - 512
        assert (footer.cylinders, footer.heads, footer.sectors_per_track) == compute_chs_geometry(disk.size_bytes)
        assert disk.size_bytes % MIB == 0
        assert azure_problems(disk) == []
        assert disk.read(510, 2) == b"\x55\xaa"
        assert disk.read(disk.size_bytes - 4, 100) == bytes(4)  # never the footer


def test_fixed_vhd_allocated_ranges_cover_every_non_zero_byte(images: dict[str, Path]) -> None:
    with open_disk(images["fixed"]) as disk:
        ranges = disk.allocated_ranges()
        assert sum(length for _, length in ranges) < disk.size_bytes // 4  # sparse
        rebuilt = bytearray(disk.size_bytes)
        for offset, length in ranges:
            assert offset >= 0 and offset + length <= disk.size_bytes
            rebuilt[offset : offset + length] = disk.read(offset, length)
        assert bytes(rebuilt) == disk.read(0, disk.size_bytes)


@pytest.mark.parametrize("name", ["dynamic", "dynamic_sparse_bitmap"])
def test_dynamic_vhd_reads_like_its_raw_source(images: dict[str, Path], name: str) -> None:
    with open_disk(images["raw"]) as raw, open_disk(images[name]) as dynamic:
        assert dynamic.format == "vhd-dynamic" and dynamic.dynamic_header is not None
        assert dynamic.size_bytes == raw.size_bytes
        assert dynamic.read(0, dynamic.size_bytes) == raw.read(0, raw.size_bytes)
        for offset, length in [(1, 1), (511, 2), (MIB - 3, 10), (MIB + 1000, 300_000), (dynamic.size_bytes - 5, 50)]:
            assert dynamic.read(offset, length) == raw.read(offset, length)
        covered = sum(length for _, length in dynamic.allocated_ranges())
        assert 0 < covered < dynamic.size_bytes
        assert [p.start_bytes for p in read_partition_table(dynamic).partitions] == [MIB]


@needs_qemu
def test_dynamic_vhd_made_by_qemu_reads_like_its_source(images: dict[str, Path], tmp_path: Path) -> None:
    made = tmp_path / "qemu-dynamic.vhd"
    subprocess.run([QEMU_IMG, "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=dynamic",
                    str(images["raw"]), str(made)], check=True)
    with open_disk(images["raw"]) as raw, open_disk(made) as dynamic:
        assert dynamic.format == "vhd-dynamic"
        assert dynamic.size_bytes >= raw.size_bytes  # qemu rounds up to its CHS geometry
        assert dynamic.read(0, raw.size_bytes) == raw.read(0, raw.size_bytes)
        assert dynamic.read(raw.size_bytes, dynamic.size_bytes) == bytes(dynamic.size_bytes - raw.size_bytes)


@needs_qemu
def test_qemu_reads_our_dynamic_and_fixed_vhd_as_the_same_disk(images: dict[str, Path]) -> None:
    # (qemu ignores the sector bitmap, so only the fully-mapped dynamic image is compared)
    subprocess.run([QEMU_IMG, "compare", "-q", "-f", "vpc", "-F", "raw", str(images["dynamic"]), str(images["raw"])],
                   check=True)
    info = subprocess.run([QEMU_IMG, "info", "-f", "vpc", "--output=json", str(images["fixed"])],
                          check=True, capture_output=True, text=True).stdout
    assert f'"virtual-size": {images["fixed"].stat().st_size - 512}' in info


@needs_qemu
@pytest.mark.parametrize("size_bytes", [20 * MIB, 127 * MIB + 512, 1 << 30, 130 << 30, 2000 << 30])
def test_chs_geometry_matches_qemu(tmp_path: Path, size_bytes: int) -> None:
    path = tmp_path / "geometry.vhd"
    subprocess.run([QEMU_IMG, "create", "-q", "-f", "vpc", "-o", "subformat=dynamic", str(path), str(size_bytes)],
                   check=True)
    footer = parse_footer(path.read_bytes()[-512:])
    assert (footer.cylinders, footer.heads, footer.sectors_per_track) == compute_chs_geometry(
        footer.current_size_bytes)


def test_chs_geometry_caps_at_the_spec_maximum() -> None:
    assert compute_chs_geometry(1 << 42) == (65535, 16, 255)
    assert compute_chs_geometry(20 * MIB) == (602, 4, 17)


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


def test_raw_disk_is_readable_but_not_azure_ready(images: dict[str, Path]) -> None:
    with open_disk(images["raw"]) as disk:
        assert disk.format == "raw" and disk.footer is None
        assert [p.id for p in azure_problems(disk)] == ["vhd.format"]


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


def write_fixed(tmp_path: Path, data_bytes: int, current_bytes: int | None = None) -> Path:
    path = tmp_path / "fixed.vhd"
    with open(path, "wb") as out:
        out.write(bytes(446) + bytes(64) + b"\x55\xaa")
        out.truncate(data_bytes)
        out.seek(data_bytes)
        footer = bytearray(make_vhd_footer(current_bytes or data_bytes, 2, 0xFFFFFFFFFFFFFFFF))
        struct.pack_into(">I", footer, 64, calc_vhd_checksum(bytes(footer), 64))
        out.write(footer)
    return path


@pytest.mark.parametrize(
    ("data_bytes", "current_bytes", "expected"),
    [
        (20 * MIB, None, []),
        (20 * MIB + 4096, None, ["vhd.alignment", "vhd.alignment"]),
        (21 * MIB, 20 * MIB, ["vhd.footer"]),
        (21 * MIB + 4096, 21 * MIB, ["vhd.alignment", "vhd.footer"]),
        (8 * MIB, None, ["vhd.size"]),
    ],
)
def test_azure_rules_on_fixed_vhds(tmp_path: Path, data_bytes: int, current_bytes: int | None,
                                   expected: list[str]) -> None:
    with open_disk(write_fixed(tmp_path, data_bytes, current_bytes)) as disk:
        problems = azure_problems(disk)
    assert [p.id for p in problems] == expected
    for problem in problems:
        assert problem.found and problem.required and problem.hint


@pytest.mark.parametrize(("size_bytes", "page_blob", "upload"), [(9 << 40, True, False), (40 << 40, True, True)])
def test_azure_size_limits(tmp_path: Path, size_bytes: int, page_blob: bool, upload: bool) -> None:
    path = write_dynamic_vhd(None, tmp_path / "huge.vhd", size_bytes=size_bytes, block_bytes=1 << 31)
    with open_disk(path) as disk:
        problems = azure_problems(disk)
        assert disk.read(size_bytes - 10, 10) == bytes(10)
    required = [p.required for p in problems if p.id == "vhd.size"]
    assert any("page blob" in r for r in required) == page_blob
    assert any("managed-disk upload" in r for r in required) == upload


def test_open_disk_never_writes_the_image(images: dict[str, Path]) -> None:
    before = {name: (p.stat().st_mtime_ns, p.read_bytes()) for name, p in images.items()}
    for path in images.values():
        with open_disk(path) as disk:
            disk.read(0, disk.size_bytes)
    assert before == {name: (p.stat().st_mtime_ns, p.read_bytes()) for name, p in images.items()}


# ---- property tests: mutated footers and dynamic headers only ever raise ImageFormatError ----

def small_fixed_vhd() -> bytes:
    data = bytearray(64 * 1024)
    data[510:512] = b"\x55\xaa"
    return bytes(data) + make_vhd_footer(len(data), 2, 0xFFFFFFFFFFFFFFFF)


def small_dynamic_vhd() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw"
        raw.write_bytes(b"\x01" * 8192 + bytes(8192) + b"\x02" * 16384)
        return write_dynamic_vhd(raw, Path(tmp) / "d.vhd", block_bytes=4096, sparse_bitmap=True).read_bytes()


FIXED, DYNAMIC = small_fixed_vhd(), small_dynamic_vhd()
mutations = st.lists(st.tuples(st.integers(0, 1023), st.integers(0, 255)), min_size=1, max_size=8)


def exercise(image: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.vhd"
        path.write_bytes(image)
        try:
            with open_disk(path) as disk:
                disk.read(0, disk.size_bytes)
                disk.allocated_ranges()
                azure_problems(disk)
        except ImageFormatError as error:
            assert str(error) and "\n" not in str(error)


def mutate(image: bytes, start: int, span: int, edits: list[tuple[int, int]], checksum_at: int | None) -> bytes:
    region = bytearray(image[start : start + span])
    for position, value in edits:
        region[position % span] = value
    if checksum_at is not None:
        struct.pack_into(">I", region, checksum_at, calc_vhd_checksum(bytes(region), checksum_at))
    return image[:start] + bytes(region) + image[start + span :]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=mutations, fix_checksum=st.booleans(), tail=st.booleans())
def test_mutated_footers_raise_only_image_format_error(edits: list[tuple[int, int]], fix_checksum: bool,
                                                       tail: bool) -> None:
    for image in (FIXED, DYNAMIC):
        start = len(image) - 512 if tail or image is FIXED else 0
        exercise(mutate(image, start, 512, edits, 64 if fix_checksum else None))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=mutations, fix_checksum=st.booleans(), bat=st.booleans())
def test_mutated_dynamic_headers_and_bats_raise_only_image_format_error(edits: list[tuple[int, int]],
                                                                        fix_checksum: bool, bat: bool) -> None:
    if bat:
        exercise(mutate(DYNAMIC, 1536, 512, edits, None))
    else:
        exercise(mutate(DYNAMIC, 512, 1024, edits, 36 if fix_checksum else None))
