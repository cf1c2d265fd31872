"""Fixtures the CLI tests share: the Ubuntu tree and the image built from it (one per module), and
the `image upload` and `image replicate` tests' image and credentials."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.trees import write_ubuntu_2204
from fixtures.uploads import azurite_credentials, local_credentials, write_fixed_vhd


@pytest.fixture(scope="module")
def ubuntu_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_ubuntu_2204(tmp_path_factory.mktemp("tree") / "root")


@pytest.fixture(scope="module")
def ubuntu_vhd(ubuntu_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from shipyard.cli.main import main

    out = tmp_path_factory.mktemp("img") / "ubuntu.vhd"
    assert main(["image", "build", str(ubuntu_tree), str(out), "--raw"]) == 0
    return out


@pytest.fixture
def image(tmp_path: Path) -> Path:
    return write_fixed_vhd(tmp_path / "disk.vhd")


@pytest.fixture(params=["local", "azurite"])
def credentials(request: pytest.FixtureRequest) -> str:
    if request.param == "local":
        return local_credentials()
    return azurite_credentials(request.getfixturevalue("azurite"))
