"""Fixtures: real filesystem images built from a small tree, and debugfs as the oracle.

Every image is made by the real tools (``mkfs.ext4 -d``, ``mkfs.xfs -p protofile``) from a
directory tree written here; nothing about a filesystem is mocked. Helpers live in
``fs_builders.py`` (a unique module name, since the test directories have no ``__init__.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from image.fs.fs_builders import EXT_VARIANTS, EXTRA_PATHS, Debugfs, describe, make_ext_image, tree_paths, write_tree

from shipyard.sources.base import FileSource


@pytest.fixture(scope="session")
def source_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tree(tmp_path_factory.mktemp("tree") / "root")


@pytest.fixture(scope="session")
def ext_images(source_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Build (once) and return the image of a named variant from EXT_VARIANTS."""
    built: dict[str, Path] = {}
    directory = tmp_path_factory.mktemp("ext")

    def build(variant: str) -> Path:
        if variant not in built:
            mkfs, options, size, htree = EXT_VARIANTS[variant]
            built[variant] = make_ext_image(source_tree, directory / f"{variant}.img", mkfs, options, size, htree)
        return built[variant]

    return build


@pytest.fixture
def debugfs() -> Callable[[str | Path], Debugfs]:
    return lambda image: Debugfs(str(image))


@pytest.fixture
def assert_mirrors_directory() -> Callable[[FileSource, FileSource, list[str]], int]:
    """Check that ``image_source`` answers every API call like ``DirectorySource`` does."""

    def check(image_source: FileSource, directory_source: FileSource, paths: list[str]) -> int:
        compared = 0
        for path in paths:
            for method in ("exists", "stat", "lstat", "read_bytes", "listdir", "readlink"):
                expected = describe(directory_source, method, path)
                assert describe(image_source, method, path) == expected, f"{method}({path!r})"
                compared += 1
        return compared

    return check


@pytest.fixture(scope="session")
def mirror_paths(source_tree: Path) -> list[str]:
    """Every entry of the source tree plus the resolution edge cases in EXTRA_PATHS."""
    return tree_paths(source_tree) + EXTRA_PATHS
