"""Fixtures the image reader tests share: one set of VHDs, built once per module and never written;
the unpack tree and its XFS images (the tree walk's and the unpack's tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.images import build_test_image, write_dynamic_vhd, write_raw_image
from fixtures.unpack_trees import Expected, make_xfs_image, write_unpack_tree


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


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Expected]]:
    """The unpack tree (``fixtures.unpack_trees``) and what each of its paths must be."""
    root = tmp_path_factory.mktemp("tree") / "root"
    return root, write_unpack_tree(root)


@pytest.fixture(scope="module")
def portable_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Expected]]:
    """The unpack tree cut to what an XFS prototype file can say."""
    root = tmp_path_factory.mktemp("portable") / "root"
    return root, write_unpack_tree(root, portable=True)


@pytest.fixture(scope="module", params=[True, False], ids=["bigtime", "classic"])
def xfs_image(request, portable_tree, tmp_path_factory) -> Path:
    pytest.importorskip("pyfsxfs", reason="the optional extra shipyard[xfs] is not installed")
    return make_xfs_image(portable_tree[0], tmp_path_factory.mktemp("xfs") / "root.xfs", portable_tree[1],
                          bigtime=request.param)
