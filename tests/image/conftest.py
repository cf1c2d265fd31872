"""Fixtures the image reader tests share: one set of VHDs, built once per module and never written."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.images import build_test_image, write_dynamic_vhd, write_raw_image


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
