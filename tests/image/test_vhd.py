"""The VHD container: fixed and dynamic disks read as their data, cross-checked with qemu-img, and
mutated footers and headers that only ever raise ``ImageFormatError``.

What ``open_disk`` refuses is in ``test_disk.py``, Azure's rules in ``test_azure.py``; the images
(``images``) come from ``tests/image/conftest.py``.
"""

from __future__ import annotations

import struct
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures.images import QEMU_IMG, make_vhd_footer, needs_qemu, write_dynamic_vhd
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
