"""The pool backend tests: a shipyard home per test, the Ubuntu fixture image built once."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.pools import PoolFiles, build_ubuntu_vhd, home_processes


@pytest.fixture(scope="session")
def ubuntu_vhd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_ubuntu_vhd(tmp_path_factory.mktemp("ubuntu"))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The test's shipyard home. Whatever of it still runs afterwards is killed: a test that failed
    before it deleted its pool must not leave a supervisor behind (the tests that check that nothing
    is left assert it themselves, before this)."""
    home = tmp_path / "home"
    monkeypatch.setenv("SHIPYARD_HOME", str(home))
    monkeypatch.delenv("SHIPYARD_CONFIGDIR", raising=False)
    yield home
    for pid in home_processes(home):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def pool_files(home: Path) -> PoolFiles:
    return PoolFiles(home)
