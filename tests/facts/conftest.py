"""Fixtures for fact collector tests: realistic trees read through ``DirectorySource``."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.rhel import write_rhel_9
from fixtures.trees import write_ubuntu_2204

from shipyard.sources.directory import DirectorySource


@pytest.fixture
def ubuntu_root(tmp_path: Path) -> Path:
    return write_ubuntu_2204(tmp_path / "ubuntu")


@pytest.fixture
def rhel_root(tmp_path: Path) -> Path:
    return write_rhel_9(tmp_path / "rhel")


@pytest.fixture
def source_of():
    return lambda root: DirectorySource(root)
