"""The pool backend tests: a shipyard home per test, the Ubuntu fixture image built once."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.pools import PoolFiles, build_ubuntu_vhd


@pytest.fixture(scope="session")
def ubuntu_vhd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_ubuntu_vhd(tmp_path_factory.mktemp("ubuntu"))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("SHIPYARD_HOME", str(home))
    monkeypatch.delenv("SHIPYARD_CONFIGDIR", raising=False)
    return home


@pytest.fixture
def pool_files(home: Path) -> PoolFiles:
    return PoolFiles(home)
