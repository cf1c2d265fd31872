"""``convert_image``: raw and dynamic VHD to a sparse, MiB-aligned fixed VHD."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from fixtures.images import OS_RELEASE, copy_sparse, read_with_debugfs, write_dynamic_vhd, write_raw_image
from shipyard.errors import ImageFormatError, UsageError
from shipyard.image.convert import convert_image, plan_copy_ranges
from shipyard.image.azure import azure_problems
from shipyard.image.vhd import MIB
from shipyard.image.disk import open_disk

QEMU_IMG = shutil.which("qemu-img")


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("convert")
    raw = write_raw_image(tmp, "disk.raw", extra_bytes=1000)  # not a whole MiB
    return {"raw": raw, "dynamic": write_dynamic_vhd(raw, tmp / "dynamic.vhd", sparse_bitmap=True)}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", ["raw", "dynamic"])
def test_conversion_gives_an_azure_ready_sparse_fixed_vhd(sources: dict[str, Path], tmp_path: Path,
                                                          name: str) -> None:
    before = digest(sources[name])
    calls: list[tuple[int, int]] = []
    dst = convert_image(sources[name], tmp_path / "fixed.vhd", progress=lambda d, t: calls.append((d, t)))
    assert digest(sources[name]) == before  # the source is never written
    with open_disk(sources["raw"]) as raw, open_disk(dst) as fixed:
        assert fixed.format == "vhd-fixed" and azure_problems(fixed) == []
        assert fixed.size_bytes == 21 * MIB  # 20 MiB + 1000 bytes, rounded up
        assert fixed.read(0, raw.size_bytes) == raw.read(0, raw.size_bytes)
        assert fixed.read(raw.size_bytes, MIB) == bytes(fixed.size_bytes - raw.size_bytes)
    assert dst.stat().st_blocks * 512 < dst.stat().st_size // 4
    assert read_with_debugfs(dst, "/etc/os-release", MIB) == OS_RELEASE.encode()
    assert calls and calls[-1][0] == calls[-1][1]
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


@pytest.mark.skipif(QEMU_IMG is None, reason="qemu-img is not installed")
def test_qemu_dynamic_vhd_converts_to_what_qemu_reads(sources: dict[str, Path], tmp_path: Path) -> None:
    made = tmp_path / "qemu.vhd"
    subprocess.run([QEMU_IMG, "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=dynamic", str(sources["raw"]),
                    str(made)], check=True)
    dst = convert_image(made, tmp_path / "fixed.vhd")
    assert (dst.stat().st_size - 512) % MIB == 0
    subprocess.run([QEMU_IMG, "compare", "-q", "-f", "vpc", "-F", "raw", str(dst), str(sources["raw"])], check=True)


def test_fixed_vhd_converts_to_itself(sources: dict[str, Path], tmp_path: Path) -> None:
    first = convert_image(sources["raw"], tmp_path / "one.vhd")
    second = convert_image(first, tmp_path / "two.vhd")
    assert first.read_bytes()[:-512] == second.read_bytes()[:-512]


def test_plan_copy_ranges_splits_allocated_ranges_into_aligned_chunks(sources: dict[str, Path]) -> None:
    with open_disk(sources["dynamic"]) as disk:
        chunks = plan_copy_ranges(disk, chunk_bytes=MIB)
        allocated = disk.allocated_ranges()
    assert sum(n for _, n in chunks) == sum(n for _, n in allocated)
    assert all(n <= MIB and (o % MIB + n) <= MIB for o, n in chunks)


def test_existing_destination_and_same_file_are_refused(sources: dict[str, Path], tmp_path: Path) -> None:
    dst = tmp_path / "out.vhd"
    dst.write_bytes(b"keep")
    with pytest.raises(UsageError, match="already exists") as caught:
        convert_image(sources["raw"], dst)
    assert caught.value.hint == "pass --overwrite to replace it, or choose another destination"
    with pytest.raises(UsageError, match="is the source"):
        convert_image(sources["raw"], sources["raw"], overwrite=True)
    assert dst.read_bytes() == b"keep"


def test_unreadable_formats_are_refused(tmp_path: Path) -> None:
    src = tmp_path / "disk.vhdx"
    src.write_bytes(b"vhdxfile".ljust(MIB, b"\0"))
    with pytest.raises(ImageFormatError, match="this is VHDX"):
        convert_image(src, tmp_path / "out.vhd")
    assert not (tmp_path / "out.vhd").exists() and not (tmp_path / "out.vhd.partial").exists()


def test_a_bad_footer_checksum_is_repaired(sources: dict[str, Path], tmp_path: Path) -> None:
    fixed = convert_image(sources["raw"], tmp_path / "good.vhd")
    damaged = tmp_path / "damaged.vhd"
    data = bytearray(fixed.read_bytes())
    data[-512 + 28 : -512 + 32] = b"evil"  # the creator field, so the checksum no longer matches
    damaged.write_bytes(bytes(data))
    with pytest.raises(ImageFormatError, match="checksum"):
        open_disk(damaged)
    repaired = convert_image(damaged, tmp_path / "repaired.vhd")
    with open_disk(repaired) as disk:  # a valid footer: opened without allow_bad_checksum
        assert disk.footer is not None and disk.footer.checksum_valid
        assert azure_problems(disk) == []
    assert repaired.read_bytes()[:-512] == bytes(data[:-512])


def test_a_truncated_source_is_refused_and_nothing_is_written(sources: dict[str, Path], tmp_path: Path) -> None:
    fixed = convert_image(sources["raw"], tmp_path / "good.vhd")
    cut = tmp_path / "cut.vhd"
    with open(fixed, "rb") as src, open(cut, "wb") as out:
        out.truncate(18 * MIB)
        copy_sparse(src, out, 18 * MIB)  # the end lost, footer and all: it now looks like a raw disk
    dst = tmp_path / "out.vhd"
    with pytest.raises(ImageFormatError, match=r"^cut.vhd is truncated: the MBR partition table says "
                                               r"20 MiB of data, the file holds 18 MiB "
                                               r"\(2,097,152 bytes missing\)$"):
        convert_image(cut, dst)
    assert not dst.exists() and not (tmp_path / "out.vhd.partial").exists()


def test_a_fifo_or_device_destination_is_never_replaced(sources: dict[str, Path], tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="exists and is not a regular file"):
        convert_image(sources["raw"], fifo, overwrite=True)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_size_grows_the_disk_and_never_shrinks_it(sources: dict[str, Path], tmp_path: Path) -> None:
    grown = convert_image(sources["raw"], tmp_path / "grown.vhd", size_bytes=30 * MIB - 5)
    with open_disk(sources["raw"]) as raw, open_disk(grown) as disk:
        assert disk.size_bytes == 30 * MIB and azure_problems(disk) == []
        assert disk.read(0, raw.size_bytes) == raw.read(0, raw.size_bytes)
        assert disk.read(raw.size_bytes, disk.size_bytes) == bytes(disk.size_bytes - raw.size_bytes)
    with pytest.raises(UsageError, match=r"smaller than disk\.raw's 20,972,520 bytes"):
        convert_image(sources["raw"], tmp_path / "small.vhd", size_bytes=20 * MIB)
    assert not (tmp_path / "small.vhd").exists()
