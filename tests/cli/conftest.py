"""Fixtures the CLI tests share: the Ubuntu tree and the image built from it (one per module), a
broken copy of it (no dockerd), the `image upload` and `image replicate` tests' image and
credentials, and a shipyard home with the image uploaded for the `pool`, `jobs` and `data` tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.azure_path import azure, azure_configdir  # noqa: F401 - the Azure path's fixtures
from fixtures.pool_cli import CliPool
from fixtures.pools import build_ubuntu_vhd
from fixtures.trees import remove, write_ubuntu_2204
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


@pytest.fixture(scope="module")
def broken_vhd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Ubuntu fixture without dockerd: docker.installed and docker.socket fail on it."""
    return build_ubuntu_vhd(tmp_path_factory.mktemp("broken"), lambda root: remove(root, "/usr/bin/dockerd"))


@pytest.fixture
def cli_pool(shipyard_home: Path, ubuntu_vhd: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliPool]:
    """The good image in the test's local store (two accounts), a config dir for pool `clipool` of
    one node on it; every pool is deleted (`shipyard pool del`) at the end, and no process is left."""
    monkeypatch.delenv("SHIPYARD_CONFIGDIR", raising=False)
    pool = CliPool(shipyard_home, tmp_path / "config", ubuntu_vhd)
    pool.write_pool()
    try:
        yield pool
    finally:
        pool.teardown()


@pytest.fixture
def image(tmp_path: Path) -> Path:
    return write_fixed_vhd(tmp_path / "disk.vhd")


@pytest.fixture(params=["local", "azurite"])
def credentials(request: pytest.FixtureRequest) -> str:
    if request.param == "local":
        return local_credentials()
    return azurite_credentials(request.getfixturevalue("azurite"))
