"""The backends the contract runs against: ``local`` now; the Azure Batch backend joins this list."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.pools import PoolFiles
from shipyard.pools.models import PoolSpec
from shipyard.pools.protocol import PoolBackend

BACKENDS = ["local"]


@dataclass
class Harness:
    backend: PoolBackend
    spec: Callable[..., PoolSpec]  # spec(pool_id, dedicated=1, ...): a pool the backend can run


@pytest.fixture(params=BACKENDS)
def harness(request: pytest.FixtureRequest, home: Path, pool_files: PoolFiles, ubuntu_vhd: Path) -> Iterator[Harness]:
    if request.param == "local":
        from shipyard.pools.local.backend import LocalBackend

        backend: PoolBackend = LocalBackend(str(home))
        uri = pool_files.upload(ubuntu_vhd)

        def spec(pool_id: str, **options: object) -> PoolSpec:
            return pool_files.spec(pool_id, [uri], **options)  # type: ignore[arg-type]
    else:  # pragma: no cover - a backend named in BACKENDS without its set-up
        raise AssertionError(f"no harness for backend {request.param}")
    try:
        yield Harness(backend, spec)
    finally:
        for pool in backend.list_pools():
            backend.delete_pool(pool.id)
        backend.close()
