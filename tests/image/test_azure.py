"""Azure's rules for an uploaded VHD (``azure_problems``): the format, alignment, footer and size
that Azure would refuse, each with what was found, what is required and the fix.

The images (``images``) come from ``tests/image/conftest.py``.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from fixtures.images import make_vhd_footer, write_dynamic_vhd
from shipyard.image.azure import azure_problems
from shipyard.image.vhd import MIB, calc_vhd_checksum
from shipyard.image.disk import open_disk


def test_raw_disk_is_readable_but_not_azure_ready(images: dict[str, Path]) -> None:
    with open_disk(images["raw"]) as disk:
        assert disk.format == "raw" and disk.footer is None
        assert [p.id for p in azure_problems(disk)] == ["vhd.format"]


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
        assert problem.found and problem.required and problem.fix


@pytest.mark.parametrize(("size_bytes", "page_blob", "upload"), [(9 << 40, True, False), (40 << 40, True, True)])
def test_azure_size_limits(tmp_path: Path, size_bytes: int, page_blob: bool, upload: bool) -> None:
    path = write_dynamic_vhd(None, tmp_path / "huge.vhd", size_bytes=size_bytes, block_bytes=1 << 31)
    with open_disk(path) as disk:
        problems = azure_problems(disk)
        assert disk.read(size_bytes - 10, 10) == bytes(10)
    required = [p.required for p in problems if p.id == "vhd.size"]
    assert any("page blob" in r for r in required) == page_blob
    assert any("managed-disk upload" in r for r in required) == upload
