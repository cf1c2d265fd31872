"""Shared fixtures: the Batch Shipyard corpus, an in-process CLI runner, config dir writers.

Azurite (one per session) and the storage helpers come from the ``fixtures.azurite`` plugin;
a static busybox for image roots that run (``busybox_binary``) from ``fixtures.busybox``; a
counting, corrupting proxy in front of Azurite (``page_proxy``) from ``fixtures.page_proxy``; a Key
Vault on the HTTPS test server (``keyvault``) from ``fixtures.keyvault_service``.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Tests never depend on timing: no per-example deadline, even on a loaded 2-core machine.
settings.register_profile("shipyard", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("shipyard")

# One Azurite for the whole session, whichever directories run (tests/storage, tests/cli, ...);
# one busybox download and one Debian kernel (with its real initramfs) for the whole session too;
# the page proxy (a fixture per test) in front of Azurite.
pytest_plugins = ["fixtures.azurite", "fixtures.busybox", "fixtures.kernel", "fixtures.page_proxy",
                  "fixtures.keyvault_service"]

SLOW_ENV = "SHIPYARD_SLOW"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``@pytest.mark.slow`` tests (real installs that take minutes) run when SHIPYARD_SLOW=1, as
    .ci/run sets it; otherwise each is reported skipped, saying how to run it."""
    import os

    if os.environ.get(SLOW_ENV) == "1":
        return
    skip = pytest.mark.skip(reason=f"slow: set {SLOW_ENV}=1 to run it (.ci/run does)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
CORPUS = SHARED / "corpus" / "batch-shipyard"


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., CliResult]:
    """Run ``shipyard ARGS`` in-process; returns exit code, stdout and stderr."""
    from shipyard.cli.main import main

    monkeypatch.delenv("SHIPYARD_CONFIGDIR", raising=False)
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write config files (YAML text, dedented) into a fresh directory and return it."""

    def write(**files: str) -> Path:
        directory = tmp_path / "configdir"
        directory.mkdir(exist_ok=True)
        for name, text in files.items():
            filename = name if "." in name else f"{name}.yaml"
            (directory / filename).write_text(textwrap.dedent(text).lstrip("\n"))
        return directory

    return write
