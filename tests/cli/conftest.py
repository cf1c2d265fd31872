"""Fixtures the CLI tests share: the `image upload` and `image replicate` tests' image and credentials."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.uploads import azurite_credentials, local_credentials, write_fixed_vhd


@pytest.fixture
def image(tmp_path: Path) -> Path:
    return write_fixed_vhd(tmp_path / "disk.vhd")


@pytest.fixture(params=["local", "azurite"])
def credentials(request: pytest.FixtureRequest) -> str:
    if request.param == "local":
        return local_credentials()
    return azurite_credentials(request.getfixturevalue("azurite"))
