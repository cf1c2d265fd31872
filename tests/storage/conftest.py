"""Storage fixtures: stores of both kinds (parametrized) and sparse test images.

Azurite itself (the session's one server), ``Azurite``, ``ACCOUNTS``, ``make_image``, the
``container`` fixture and the stalled/silent ports live in ``fixtures.azurite``, registered for
every test directory by ``tests/conftest.py``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.azurite import MIB, make_image
from shipyard.config.credentials import StorageLink
from shipyard.storage.open import open_store
from shipyard.storage.store import PageBlobStore


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture(params=["local", "azurite"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def links(store_kind: str, request: pytest.FixtureRequest) -> dict[str, StorageLink]:
    """Three storage links of the parametrized kind, named sa1..sa3 (accounts acct1..acct3)."""
    if store_kind == "local":
        return {
            f"sa{i}": StorageLink(account=f"acct{i}", endpoint="local")
            for i in (1, 2, 3)
        }
    azurite = request.getfixturevalue("azurite")
    return {f"sa{i}": azurite.link(f"acct{i}") for i in (1, 2, 3)}


@pytest.fixture
def make_store(
    links: dict[str, StorageLink], home: Path
) -> Callable[[str], PageBlobStore]:
    def make(name: str = "sa1") -> PageBlobStore:
        return open_store(
            links[name],
            home,
            **({} if links[name].is_local else {"initial_backoff_s": 0.01}),
        )

    return make


@pytest.fixture
def store(make_store: Callable[[str], PageBlobStore]) -> PageBlobStore:
    return make_store("sa1")


# Data scattered over a 64 MiB image: runs straddling a 4 MiB boundary, a lone page, a 5 MiB run.
SCATTERED = [
    (0, b"\xeb\x63\x90" + bytes(509) + os.urandom(512)),  # first two pages
    (4 * MIB - 1024, os.urandom(2048)),  # across the first 4 MiB boundary
    (10 * MIB + 4096, b"\x01" * 512),  # one page
    (20 * MIB + 512, os.urandom(5 * MIB)),  # a run longer than one Put Page
    (40 * MIB + 100, b"tail of a page"),  # unaligned bytes inside one page
]


@pytest.fixture
def sparse_image(tmp_path: Path) -> Path:
    """64 MiB + footer; its non-zero pages are listed in ``SCATTERED_RANGES``."""
    return make_image(tmp_path / "disk.vhd", 64, SCATTERED)


@pytest.fixture
def image_factory() -> Callable[[Path, int, list[tuple[int, bytes]]], Path]:
    return make_image
