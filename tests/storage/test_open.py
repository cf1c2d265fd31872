"""The store factory: which store a link opens, and the protocol module importing none of them."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shipyard.storage.open import shipyard_home

STORAGE = Path(__file__).resolve().parents[2] / "src" / "shipyard" / "storage"


def test_home_defaults_to_env_then_dot_shipyard(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path))
    assert shipyard_home() == tmp_path
    monkeypatch.delenv("SHIPYARD_HOME")
    assert shipyard_home() == Path.home() / ".shipyard"


def test_the_protocol_module_imports_no_store_and_no_factory() -> None:
    tree = ast.parse((STORAGE / "store.py").read_text())
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    } | {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert sorted(m for m in imported if m.startswith("shipyard.storage")) == []


def test_a_local_link_opens_the_local_store_without_the_azure_sdk(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from shipyard.config.credentials import StorageLink\n"
        "from shipyard.storage.open import open_store\n"
        f"store = open_store(StorageLink(account='acct1', endpoint='local'), {str(tmp_path)!r})\n"
        "assert store.kind == 'local', store.kind\n"
        "assert not [m for m in sys.modules if m == 'azure' or m.startswith('azure.')], 'azure imported'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(STORAGE.parents[1])}  # this tree's code, whatever is installed
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
