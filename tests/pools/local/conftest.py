"""A pool shared by a module's task tests: two nodes of two slots, started once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.pools import PoolFiles, idle_nodes
from shipyard.pools.local.backend import LocalBackend


@pytest.fixture(scope="module")
def shared_pool(tmp_path_factory: pytest.TempPathFactory, ubuntu_vhd: Path) -> Iterator[tuple[LocalBackend, str, Path]]:
    home = tmp_path_factory.mktemp("shared") / "home"
    files = PoolFiles(home)
    backend = LocalBackend(str(home))
    backend.add_pool(files.spec("shared", [files.upload(ubuntu_vhd)], dedicated=2, slots=2))
    idle_nodes(backend, "shared", 2)
    try:
        yield backend, "shared", home
    finally:
        backend.delete_pool("shared")
        backend.close()


@pytest.fixture
def backend(home: Path) -> Iterator[LocalBackend]:
    """A local backend in the test's home; every pool it still has is deleted afterwards."""
    backend = LocalBackend(str(home))
    yield backend
    for pool in backend.list_pools():
        backend.delete_pool(pool.id)
    backend.close()
