"""What `image upload` accepts: a fixed, MiB-aligned VHD with a valid footer that fits a page blob."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fixtures.images import write_dynamic_vhd
from shipyard.errors import ImageFormatError, UsageError
from shipyard.image.vhd import convert_command, make_fixed_footer
from shipyard.storage.upload_policy import check_upload_format

MIB = 1024 * 1024


def fixed_vhd(path: Path, size: int = 8 * MIB) -> Path:
    with open(path, "wb") as handle:
        os.truncate(handle.fileno(), size)
        os.pwrite(handle.fileno(), b"\xeb\x63\x90", 0)
        os.pwrite(handle.fileno(), make_fixed_footer(size), size)
    return path


def test_a_fixed_aligned_vhd_may_be_uploaded(tmp_path: Path) -> None:
    check_upload_format(fixed_vhd(tmp_path / "disk.vhd"))


def test_a_dynamic_vhd_is_refused_with_the_convert_command(tmp_path: Path) -> None:
    dynamic = write_dynamic_vhd(fixed_vhd(tmp_path / "disk.vhd"), tmp_path / "dynamic.vhd")
    with pytest.raises(ImageFormatError) as info:
        check_upload_format(dynamic)
    assert info.value.field == "vhd.format"
    assert str(info.value).startswith("dynamic.vhd cannot be uploaded as is: vhd.format: a dynamic VHD, needs a fixed VHD")
    assert f"`{convert_command(dynamic)}`" in (info.value.hint or "")


def test_a_misaligned_vhd_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ImageFormatError) as info:
        check_upload_format(fixed_vhd(tmp_path / "odd.vhd", 8 * MIB + 4096))
    assert info.value.field == "vhd.alignment"
    assert str(info.value).startswith("odd.vhd cannot be uploaded as is: vhd.alignment: ")
    assert str(info.value).endswith(" (and 1 more)")


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"nosuch\.vhd: no such file"):
        check_upload_format(tmp_path / "nosuch.vhd")


def test_an_image_larger_than_a_page_blob_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image = fixed_vhd(tmp_path / "big.vhd")
    monkeypatch.setattr("shipyard.image.vhd.PAGE_BLOB_MAX_BYTES", 8 * MIB)  # 8 MiB of disk + the footer: too big
    with pytest.raises(ImageFormatError) as info:
        check_upload_format(image)
    assert (str(info.value), info.value.field) == ("big.vhd is larger than a page blob can hold (8 TiB)", "vhd.size")
